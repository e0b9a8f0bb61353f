"""Acting-Person on people, notes, mentorships, feedback and feedback requests: who sees
what (404 and absent from lists otherwise), who may change it (403 ``not_permitted``,
before any 409 or 412), and the people directory's redaction."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import create_person
from tests.factories_conversations import create_conversation, create_note
from tests.factories_feedback import (
    create_feedback,
    create_feedback_request,
    create_mentorship,
    in_days,
)
from tests.factories_goals import create_goal

Client = httpx.AsyncClient


def as_(headers: dict[str, str], person: dict[str, Any]) -> dict[str, str]:
    return {**headers, "Acting-Person": person["id"]}


async def team(client: Client, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Boss manages Grace, who manages Ada; Alan and Sam are colleagues elsewhere."""
    boss = await create_person(client, auth, name="Boss")
    grace = await create_person(client, auth, name="Grace", manager_id=boss["id"])
    ada = await create_person(client, auth, name="Ada", manager_id=grace["id"])
    alan = await create_person(client, auth, name="Alan")
    sam = await create_person(client, auth, name="Sam")
    return {"boss": boss, "grace": grace, "ada": ada, "alan": alan, "sam": sam}


def assert_not_permitted(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert (body["code"], body["detail"]) == ("not_permitted", detail)


async def ids(client: Client, url: str, headers: dict[str, str]) -> list[str]:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


# People ----------------------------------------------------------------------------------


async def test_people_directory_hides_external_id_and_metadata_from_a_person(
    client: Client, auth: dict[str, str]
) -> None:
    sam = await create_person(client, auth, name="Sam")
    ada = await create_person(
        client,
        auth,
        name="Ada",
        email="ada@example.com",
        title="Engineer",
        external_id="HR-1",
        metadata={"salary_band": "L5"},
    )
    full = await client.get(f"/v1/people/{ada['id']}", headers=auth)
    assert full.json() == ada
    assert (full.json()["external_id"], full.json()["metadata"]) == ("HR-1", {"salary_band": "L5"})

    public = {**ada, "external_id": None, "metadata": {}}
    one = await client.get(f"/v1/people/{ada['id']}", headers=as_(auth, sam))
    assert one.status_code == 200
    assert one.json() == public
    assert one.headers["ETag"] == full.headers["ETag"]
    listed = await client.get("/v1/people", headers=as_(auth, sam))
    assert listed.json()["data"] == [public, {**sam, "external_id": None, "metadata": {}}]
    by_email = await client.get("/v1/people?email=ADA@example.com", headers=as_(auth, ada))
    assert by_email.json()["data"] == [public]
    assert "HR-1" not in listed.text + one.text + by_email.text
    assert "salary_band" not in listed.text + one.text + by_email.text

    # The platform still sees everything; a person never writes the directory.
    assert (await client.get("/v1/people", headers=auth)).json()["data"][0] == ada
    refused = [
        await client.post("/v1/people", json={"name": "X"}, headers=as_(auth, sam)),
        await client.patch(f"/v1/people/{ada['id']}", json={"title": "X"}, headers=as_(auth, ada)),
        await client.put(
            "/v1/people/by-external-id/HR-1", json={"name": "X"}, headers=as_(auth, ada)
        ),
        await client.delete(f"/v1/people/{sam['id']}", headers=as_(auth, sam)),
    ]
    for response in refused:
        assert_not_permitted(
            response, "Only the platform may do this; it cannot be done as a person."
        )
    assert (await client.get(f"/v1/people/{ada['id']}", headers=auth)).json() == ada


# Notes -----------------------------------------------------------------------------------


def notes_path(conversation: dict[str, Any], note_id: str | None = None) -> str:
    path = f"/v1/conversations/{conversation['id']}/notes"
    return f"{path}/{note_id}" if note_id else path


async def test_notes_follow_their_conversation_and_private_ones_their_author(
    client: Client, auth: dict[str, str]
) -> None:
    people = await team(client, auth)
    ada, grace, boss, sam = people["ada"], people["grace"], people["boss"], people["sam"]
    conversation = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=grace["id"]
    )
    shared = await create_note(client, auth, conversation, author_id=grace["id"], body="shared")
    private = await create_note(
        client, auth, conversation, author_id=ada["id"], visibility="private", body="mine"
    )

    assert await ids(client, notes_path(conversation), auth) == [shared["id"]]
    assert await ids(client, notes_path(conversation), as_(auth, ada)) == [
        private["id"],
        shared["id"],
    ]
    for person in (grace, boss):  # the other party, the skip-level manager
        assert await ids(client, notes_path(conversation), as_(auth, person)) == [shared["id"]]
        seen = await client.get(notes_path(conversation, shared["id"]), headers=as_(auth, person))
        assert seen.json() == shared
        hidden = await client.get(
            notes_path(conversation, private["id"]), headers=as_(auth, person)
        )
        assert hidden.status_code == 404
    for url in (notes_path(conversation), notes_path(conversation, shared["id"])):
        unseen = await client.get(url, headers=as_(auth, sam))
        assert unseen.status_code == 404
        assert unseen.json()["detail"] == f"No conversation with id {conversation['id']}."


async def test_note_writes_are_the_authors(client: Client, auth: dict[str, str]) -> None:
    people = await team(client, auth)
    ada, grace, boss, sam = people["ada"], people["grace"], people["boss"], people["sam"]
    conversation = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=grace["id"]
    )

    # Create: a party, as the author.
    as_other = await client.post(
        notes_path(conversation),
        json={"author_id": grace["id"], "body": "x"},
        headers=as_(auth, ada),
    )
    assert_not_permitted(as_other, "A person writes notes as themselves only.")
    by_manager = await client.post(
        notes_path(conversation),
        json={"author_id": boss["id"], "body": "x"},
        headers=as_(auth, boss),
    )
    assert_not_permitted(
        by_manager, "Only the conversation's employee or facilitator writes its notes."
    )
    by_stranger = await client.post(
        notes_path(conversation), json={"author_id": sam["id"], "body": "x"}, headers=as_(auth, sam)
    )
    assert by_stranger.status_code == 404
    created = await client.post(
        notes_path(conversation),
        json={"author_id": ada["id"], "body": "Ada's note"},
        headers=as_(auth, ada),
    )
    assert created.status_code == 201
    note = created.json()
    assert (note["author_id"], note["body"]) == (ada["id"], "Ada's note")
    assert await ids(client, notes_path(conversation), auth) == [note["id"]]

    # Change or delete: the author only; 403 comes before the If-Match check (412).
    url = notes_path(conversation, note["id"])
    stale = {"If-Match": '"stale"'}
    for person in (grace, boss):
        headers = {**as_(auth, person), **stale}
        assert_not_permitted(
            await client.patch(url, json={"body": "x"}, headers=headers),
            "Only its author changes or deletes a note.",
        )
        assert_not_permitted(
            await client.delete(url, headers=headers), "Only its author changes or deletes a note."
        )
    assert (await client.patch(url, json={"body": "x"}, headers=as_(auth, sam))).status_code == 404
    assert (await client.delete(url, headers=as_(auth, sam))).status_code == 404
    assert (await client.get(url, headers=auth)).json() == note

    assert (
        await client.patch(url, json={"body": "x"}, headers={**as_(auth, ada), **stale})
    ).status_code == 412
    edited = await client.patch(url, json={"body": "Ada's note, edited"}, headers=as_(auth, ada))
    assert edited.status_code == 200
    assert edited.json()["body"] == "Ada's note, edited"
    # The platform keeps its say over shared notes.
    assert (await client.delete(url, headers=auth)).status_code == 204


# Mentorships -----------------------------------------------------------------------------


async def test_mentorships_seen_by_the_pair_and_the_mentees_managers(
    client: Client, auth: dict[str, str]
) -> None:
    people = await team(client, auth)
    ada, grace, boss, alan, sam = (people[k] for k in ("ada", "grace", "boss", "alan", "sam"))
    mentorship = await create_mentorship(client, auth, alan["id"], ada["id"])
    url = f"/v1/mentorships/{mentorship['id']}"
    for person in (alan, ada, grace, boss):
        one = await client.get(url, headers=as_(auth, person))
        assert one.json() == mentorship
        assert await ids(client, "/v1/mentorships", as_(auth, person)) == [mentorship["id"]]
    unseen = await client.get(url, headers=as_(auth, sam))
    assert unseen.status_code == 404
    assert unseen.json()["detail"] == f"No mentorship with id {mentorship['id']}."
    assert await ids(client, "/v1/mentorships", as_(auth, sam)) == []
    assert await ids(client, f"/v1/mentorships?mentee_id={ada['id']}", as_(auth, sam)) == []
    assert (await client.post(f"{url}/end", headers=as_(auth, sam))).status_code == 404

    # The tenant setting decides which managers see it: `direct`, then `none`.
    for setting, managers in (("direct", [grace]), ("none", [])):
        changed = await client.patch(
            "/v1/tenant", json={"settings": {"managers_see_reports": setting}}, headers=auth
        )
        assert changed.status_code == 200
        for person in (grace, boss):
            expected = [mentorship["id"]] if person in managers else []
            assert await ids(client, "/v1/mentorships", as_(auth, person)) == expected
            one = await client.get(url, headers=as_(auth, person))
            assert one.status_code == (200 if expected else 404)
        assert await ids(client, "/v1/mentorships", as_(auth, alan)) == [mentorship["id"]]


async def test_mentorship_writes_are_the_platforms_and_ending_the_pairs(
    client: Client, auth: dict[str, str]
) -> None:
    people = await team(client, auth)
    ada, grace, alan = people["ada"], people["grace"], people["alan"]
    mentorship = await create_mentorship(client, auth, alan["id"], ada["id"])
    url = f"/v1/mentorships/{mentorship['id']}"
    platform_only = "Only the platform may do this; it cannot be done as a person."
    for person in (alan, ada):
        mine = as_(auth, person)
        assert_not_permitted(
            await client.post(
                "/v1/mentorships",
                json={"mentor_id": alan["id"], "mentee_id": grace["id"]},
                headers=mine,
            ),
            platform_only,
        )
        assert_not_permitted(
            await client.patch(url, json={"focus": "x"}, headers=mine), platform_only
        )
        assert_not_permitted(await client.delete(url, headers=mine), platform_only)

    ending = "Only the mentor or the mentee ends a mentorship."
    assert_not_permitted(await client.post(f"{url}/end", headers=as_(auth, grace)), ending)
    ended = await client.post(f"{url}/end", json={"reason": "Done"}, headers=as_(auth, ada))
    assert ended.status_code == 200
    assert (ended.json()["status"], ended.json()["end_reason"]) == ("ended", "Done")
    # Allowed but already ended: 409; not allowed: 403 first.
    again = await client.post(f"{url}/end", headers=as_(auth, alan))
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    assert_not_permitted(await client.post(f"{url}/end", headers=as_(auth, grace)), ending)
    events = (await client.get("/v1/events?type=mentorship.ended", headers=auth)).json()["data"]
    assert [e["actor"]["person_id"] for e in events] == [ada["id"]]


# Feedback --------------------------------------------------------------------------------


async def test_feedback_seen_by_giver_recipient_and_manager_if_shared(
    client: Client, auth: dict[str, str]
) -> None:
    people = await team(client, auth)
    ada, grace, boss, alan, sam = (people[k] for k in ("ada", "grace", "boss", "alan", "sam"))
    private = await create_feedback(client, auth, alan["id"], ada["id"], body="private")
    with_manager = await create_feedback(
        client, auth, alan["id"], ada["id"], body="shared", visibility="recipient_and_manager"
    )
    both = [with_manager["id"], private["id"]]
    seen = {alan["id"]: both, ada["id"]: both, grace["id"]: [with_manager["id"]]}
    for person in (alan, ada, grace, boss, sam):
        assert await ids(client, "/v1/feedback", as_(auth, person)) == seen.get(person["id"], [])
        for feedback in (private, with_manager):
            one = await client.get(f"/v1/feedback/{feedback['id']}", headers=as_(auth, person))
            if feedback["id"] in seen.get(person["id"], []):
                assert one.json() == feedback
            else:
                assert one.status_code == 404
                assert one.json()["detail"] == f"No feedback with id {feedback['id']}."
    # `visible_to` still filters, for the platform and within what a person sees.
    assert await ids(client, f"/v1/feedback?visible_to={grace['id']}", auth) == [with_manager["id"]]
    assert await ids(client, f"/v1/feedback?visible_to={grace['id']}", as_(auth, ada)) == [
        with_manager["id"]
    ]
    assert await ids(client, f"/v1/feedback?visible_to={ada['id']}", as_(auth, sam)) == []


async def test_feedback_is_given_and_changed_by_its_giver(
    client: Client, auth: dict[str, str]
) -> None:
    people = await team(client, auth)
    ada, grace, alan, sam = people["ada"], people["grace"], people["alan"], people["sam"]
    conversation = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=grace["id"]
    )
    goal = await create_goal(client, auth, ada["id"])
    body = {"recipient_id": ada["id"], "kind": "strength", "body": "Calm write-up."}

    as_someone_else = await client.post(
        "/v1/feedback", json={**body, "giver_id": grace["id"]}, headers=as_(auth, alan)
    )
    assert_not_permitted(as_someone_else, "A person gives feedback as themselves only.")
    for field, value in (("conversation_id", conversation["id"]), ("goal_id", goal["id"])):
        unseen = await client.post(
            "/v1/feedback",
            json={**body, "giver_id": alan["id"], field: value},
            headers=as_(auth, alan),
        )
        assert unseen.status_code == 422
        label = field.removesuffix("_id")
        assert unseen.json()["errors"] == [
            {
                "pointer": f"/body/{field}",
                "detail": f"No {label} with id {value} in this tenant.",
                "code": "unknown_reference",
            }
        ]
    created = await client.post(
        "/v1/feedback",
        json={
            **body,
            "giver_id": grace["id"],
            "conversation_id": conversation["id"],
            "goal_id": goal["id"],
        },
        headers=as_(auth, grace),
    )
    assert created.status_code == 201, created.text
    feedback = created.json()
    assert (feedback["giver_id"], feedback["conversation_id"]) == (grace["id"], conversation["id"])

    url = f"/v1/feedback/{feedback['id']}"
    detail = "Only its giver changes or deletes a piece of feedback."
    stale = {**as_(auth, ada), "If-Match": '"stale"'}
    assert_not_permitted(await client.patch(url, json={"body": "x"}, headers=stale), detail)
    assert_not_permitted(await client.delete(url, headers=stale), detail)
    assert (await client.patch(url, json={"body": "x"}, headers=as_(auth, sam))).status_code == 404
    assert (await client.delete(url, headers=as_(auth, sam))).status_code == 404
    edited = await client.patch(url, json={"body": "Very calm."}, headers=as_(auth, grace))
    assert edited.status_code == 200
    assert edited.json()["body"] == "Very calm."
    assert (await client.delete(url, headers=as_(auth, grace))).status_code == 204


# Feedback requests -----------------------------------------------------------------------


async def test_feedback_requests_seen_by_requester_and_responder(
    client: Client, auth: dict[str, str]
) -> None:
    people = await team(client, auth)
    ada, grace, alan = people["ada"], people["grace"], people["alan"]
    request = await create_feedback_request(client, auth, ada["id"], alan["id"])
    url = f"/v1/feedback-requests/{request['id']}"
    for person in (ada, alan):
        assert (await client.get(url, headers=as_(auth, person))).json() == request
        assert await ids(client, "/v1/feedback-requests", as_(auth, person)) == [request["id"]]
    for person in (grace, people["sam"]):  # the requester's manager is not told
        unseen = await client.get(url, headers=as_(auth, person))
        assert unseen.status_code == 404
        assert unseen.json()["detail"] == f"No feedback request with id {request['id']}."
        assert await ids(client, "/v1/feedback-requests", as_(auth, person)) == []
        for action in ("answer", "decline"):
            body = {"kind": "strength", "body": "x"} if action == "answer" else {}
            response = await client.post(f"{url}/{action}", json=body, headers=as_(auth, person))
            assert response.status_code == 404
        assert (await client.delete(url, headers=as_(auth, person))).status_code == 404


async def test_feedback_request_writes_and_answers(client: Client, auth: dict[str, str]) -> None:
    people = await team(client, auth)
    ada, grace, alan = people["ada"], people["grace"], people["alan"]
    conversation = await create_conversation(
        client, auth, employee_id=ada["id"], facilitator_id=grace["id"]
    )
    body = {"responder_id": alan["id"], "prompt": "My review?", "due_at": in_days(7)}
    assert_not_permitted(
        await client.post(
            "/v1/feedback-requests",
            json={**body, "requester_id": grace["id"]},
            headers=as_(auth, ada),
        ),
        "A person asks for feedback for themselves only.",
    )
    unseen = await client.post(
        "/v1/feedback-requests",
        json={
            **body,
            "requester_id": alan["id"],
            "responder_id": ada["id"],
            "conversation_id": conversation["id"],
        },
        headers=as_(auth, alan),
    )
    assert unseen.status_code == 422
    assert [e["pointer"] for e in unseen.json()["errors"]] == ["/body/conversation_id"]
    created = await client.post(
        "/v1/feedback-requests",
        json={**body, "requester_id": ada["id"], "conversation_id": conversation["id"]},
        headers=as_(auth, ada),
    )
    assert created.status_code == 201, created.text
    request = created.json()
    url = f"/v1/feedback-requests/{request['id']}"

    # Changes and deletion: the requester's.
    requester_only = "Only its requester changes or deletes a feedback request."
    stale = {**as_(auth, alan), "If-Match": '"stale"'}
    assert_not_permitted(
        await client.patch(url, json={"prompt": "x"}, headers=stale), requester_only
    )
    assert_not_permitted(await client.delete(url, headers=stale), requester_only)
    moved = await client.patch(url, json={"prompt": "My design review?"}, headers=as_(auth, ada))
    assert moved.status_code == 200

    # Answer and decline: the responder's; 403 before the state rules' 409.
    responder_only = "Only its responder answers or declines a feedback request."
    answer = {"kind": "growth_area", "body": "Share drafts earlier."}
    assert_not_permitted(
        await client.post(f"{url}/answer", json=answer, headers=as_(auth, ada)), responder_only
    )
    assert_not_permitted(
        await client.post(f"{url}/decline", headers=as_(auth, ada)), responder_only
    )
    answered = await client.post(f"{url}/answer", json=answer, headers=as_(auth, alan))
    assert answered.status_code == 200, answered.text
    feedback = answered.json()["feedback"]
    assert (feedback["giver_id"], feedback["recipient_id"]) == (alan["id"], ada["id"])
    assert feedback["conversation_id"] == conversation["id"]
    for person in (alan, ada):
        seen = await client.get(f"/v1/feedback/{feedback['id']}", headers=as_(auth, person))
        assert seen.json() == feedback
    assert_not_permitted(
        await client.patch(
            f"/v1/feedback/{feedback['id']}", json={"body": "x"}, headers=as_(auth, ada)
        ),
        "Only its giver changes or deletes a piece of feedback.",
    )

    for action, payload in (("answer", answer), ("decline", {})):
        assert_not_permitted(
            await client.post(f"{url}/{action}", json=payload, headers=as_(auth, ada)),
            responder_only,
        )
        again = await client.post(f"{url}/{action}", json=payload, headers=as_(auth, alan))
        assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    assert_not_permitted(await client.delete(url, headers=as_(auth, alan)), requester_only)
    kept = await client.delete(url, headers=as_(auth, ada))
    assert (kept.status_code, kept.json()["code"]) == (409, "invalid_transition")
