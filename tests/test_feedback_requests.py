from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.models.feedback import FeedbackRequest
from tests.conftest import TenantKey, make_tenant
from tests.factories_feedback import (
    create_feedback,
    create_feedback_request,
    event_types,
    events_of,
    in_days,
    insert_conversation,
    insert_goal,
    people,
)


def as_returned(moment: datetime) -> str:
    """How the API renders a time: UTC, with a ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def set_columns(session: AsyncSession, request_id: str, **values: Any) -> None:
    """Move a request to a state the API cannot (past due, expired by the scheduler)."""
    await session.execute(
        sa.update(FeedbackRequest)
        .where(col(FeedbackRequest.id) == uuid.UUID(request_id))
        .values(**values)
    )
    await session.commit()


async def test_create_and_get_request(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, ada = await people(client, auth, "Grace", "Ada")
    goal = await insert_goal(session, tenant.tenant_id, ada["id"])
    due = (datetime.now(UTC) + timedelta(days=7)).astimezone(timezone(timedelta(hours=2)))
    response = await client.post(
        "/v1/feedback-requests",
        json={
            "requester_id": ada["id"],
            "responder_id": grace["id"],
            "prompt": "How did my design review go?",
            "due_at": due.isoformat(),
            "goal_id": str(goal.id),
            "external_id": "FR-1",
            "metadata": {"cycle": "Q1"},
        },
        headers=auth,
    )
    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == f"/v1/feedback-requests/{created['id']}"
    assert created == {
        "id": created["id"],
        "external_id": "FR-1",
        "metadata": {"cycle": "Q1"},
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
        "requester_id": ada["id"],
        "responder_id": grace["id"],
        "prompt": "How did my design review go?",
        "due_at": as_returned(due),
        "status": "open",
        "conversation_id": None,
        "goal_id": str(goal.id),
        "answered_at": None,
        "declined_at": None,
        "decline_reason": None,
    }
    fetched = await client.get(f"/v1/feedback-requests/{created['id']}", headers=auth)
    assert fetched.json() == created
    assert fetched.headers["ETag"] == response.headers["ETag"]
    (event,) = await events_of(client, auth, "feedback_request.created")
    assert event["subject_type"] == "feedback_request"
    assert event["data"] == created


async def test_create_is_validated(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, ada = await people(client, auth, "Grace", "Ada")
    o1, o2 = await people(client, other_tenant.headers, "O1", "O2")
    their_conversation = await insert_conversation(
        session, other_tenant.tenant_id, o1["id"], o2["id"]
    )
    base = {
        "requester_id": ada["id"],
        "responder_id": grace["id"],
        "prompt": "Thoughts?",
        "due_at": in_days(3),
    }

    async def refused(**changes: Any) -> list[tuple[str, str]]:
        body = {k: v for k, v in {**base, **changes}.items() if v is not None}
        response = await client.post("/v1/feedback-requests", json=body, headers=auth)
        assert response.status_code == 422, response.text
        return [(e["pointer"], e["code"]) for e in response.json()["errors"]]

    assert await refused(due_at=in_days(-1)) == [("/body/due_at", "in_past")]
    assert await refused(due_at="2030-01-01T09:00:00") == [("/body/due_at", "timezone_aware")]
    assert await refused(due_at="next friday") == [("/body/due_at", "datetime_from_date_parsing")]
    assert await refused(due_at=None, prompt="") == [
        ("/body/prompt", "string_too_short"),
        ("/body/due_at", "missing"),
    ]
    assert await refused(responder_id=ada["id"]) == [("/body/responder_id", "same_person")]
    assert await refused(responder_id=o1["id"]) == [("/body/responder_id", "unknown_reference")]
    assert await refused(conversation_id=str(their_conversation.id)) == [
        ("/body/conversation_id", "unknown_reference")
    ]
    assert await refused(goal_id=str(uuid.uuid4())) == [("/body/goal_id", "unknown_reference")]
    listed = await client.get("/v1/feedback-requests", headers=auth)
    assert listed.json()["data"] == []


async def test_answer_creates_exactly_one_feedback(
    client: httpx.AsyncClient, tenant: TenantKey, session: AsyncSession
) -> None:
    auth = tenant.headers
    grace, ada = await people(client, auth, "Grace", "Ada")
    conversation = await insert_conversation(session, tenant.tenant_id, ada["id"], grace["id"])
    goal = await insert_goal(session, tenant.tenant_id, ada["id"])
    request = await create_feedback_request(
        client,
        auth,
        ada["id"],
        grace["id"],
        conversation_id=str(conversation.id),
        goal_id=str(goal.id),
    )

    answered = await client.post(
        f"/v1/feedback-requests/{request['id']}/answer",
        json={
            "kind": "strength",
            "body": "You kept the review focused on decisions.",
            "visibility": "recipient_and_manager",
            "metadata": {"via": "slack"},
        },
        headers=auth,
    )
    assert answered.status_code == 200
    result = answered.json()
    assert sorted(result) == ["feedback", "request"]
    feedback, after = result["feedback"], result["request"]
    assert feedback == {
        "id": feedback["id"],
        "external_id": None,
        "metadata": {"via": "slack"},
        "created_at": feedback["created_at"],
        "updated_at": feedback["updated_at"],
        "giver_id": grace["id"],
        "recipient_id": ada["id"],
        "kind": "strength",
        "body": "You kept the review focused on decisions.",
        "visibility": "recipient_and_manager",
        "conversation_id": str(conversation.id),
        "goal_id": str(goal.id),
        "request_id": request["id"],
        "competency_ids": [],
    }
    assert after == {
        **request,
        "status": "answered",
        "answered_at": after["answered_at"],
        "updated_at": after["answered_at"],
    }
    assert after["answered_at"] is not None
    assert (await client.get(f"/v1/feedback/{feedback['id']}", headers=auth)).json() == feedback
    current = await client.get(f"/v1/feedback-requests/{request['id']}", headers=auth)
    assert current.json() == after
    assert answered.headers["ETag"] == current.headers["ETag"]

    all_feedback = (await client.get("/v1/feedback", headers=auth)).json()["data"]
    assert all_feedback == [feedback]
    by_request = await client.get(f"/v1/feedback?request_id={request['id']}", headers=auth)
    assert by_request.json()["data"] == [feedback]

    events = await events_of(client, auth, "feedback.created", "feedback_request.answered")
    assert [(e["type"], e["data"]) for e in events] == [
        ("feedback.created", feedback),
        ("feedback_request.answered", after),
    ]

    twice = await client.post(
        f"/v1/feedback-requests/{request['id']}/answer",
        json={"kind": "guidance", "body": "Again"},
        headers=auth,
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "invalid_transition"
    assert twice.json()["current_status"] == "answered"
    assert twice.json()["detail"] == "Cannot answer a feedback request whose status is 'answered'."
    assert (await client.get("/v1/feedback", headers=auth)).json()["data"] == [feedback]


async def test_refused_answers_change_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    request = await create_feedback_request(client, auth, ada["id"], grace["id"])
    path = f"/v1/feedback-requests/{request['id']}"

    invalid = await client.post(f"{path}/answer", json={"kind": "praise"}, headers=auth)
    assert invalid.status_code == 422
    assert sorted(e["code"] for e in invalid.json()["errors"]) == ["literal_error", "missing"]

    await create_feedback(client, auth, grace["id"], ada["id"], external_id="FB-9")
    taken = await client.post(
        f"{path}/answer",
        json={"kind": "strength", "body": "Hi", "external_id": "FB-9"},
        headers=auth,
    )
    assert taken.status_code == 409
    assert (await client.get(path, headers=auth)).json() == request

    # Past due: refused, and the request stays open (the scheduler expires it).
    past = datetime.now(UTC) - timedelta(minutes=5)
    await set_columns(session, request["id"], due_at=past)
    late = await client.post(
        f"{path}/answer", json={"kind": "strength", "body": "Hi"}, headers=auth
    )
    assert late.status_code == 409
    assert late.json()["code"] == "past_due"
    assert late.json()["current_status"] == "open"
    assert late.json()["due_at"] == past.isoformat()
    unchanged = await client.get(path, headers=auth)
    assert unchanged.json() == {**request, "due_at": as_returned(past)}
    feedback = (await client.get("/v1/feedback", headers=auth)).json()["data"]
    assert [f["external_id"] for f in feedback] == ["FB-9"]
    assert await event_types(client, auth, "feedback_request.answered") == []


async def test_decline(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    request = await create_feedback_request(client, auth, ada["id"], grace["id"])
    path = f"/v1/feedback-requests/{request['id']}"

    declined = await client.post(
        f"{path}/decline", json={"reason": "Not enough context"}, headers=auth
    )
    assert declined.status_code == 200
    body = declined.json()
    assert body == {
        **request,
        "status": "declined",
        "declined_at": body["declined_at"],
        "decline_reason": "Not enough context",
        "updated_at": body["declined_at"],
    }
    (event,) = await events_of(client, auth, "feedback_request.declined")
    assert event["data"] == body

    again = await client.post(f"{path}/decline", headers=auth)
    assert again.status_code == 409
    assert again.json()["detail"] == "Cannot decline a feedback request whose status is 'declined'."
    answer = await client.post(
        f"{path}/answer", json={"kind": "strength", "body": "x"}, headers=auth
    )
    assert answer.status_code == 409
    assert answer.json()["current_status"] == "declined"
    assert (await client.get(path, headers=auth)).json() == body

    other = await create_feedback_request(client, auth, grace["id"], ada["id"])
    no_body = await client.post(f"/v1/feedback-requests/{other['id']}/decline", headers=auth)
    assert no_body.status_code == 200
    assert no_body.json()["status"] == "declined"
    assert no_body.json()["decline_reason"] is None


async def test_expired_requests_refuse_actions(
    client: httpx.AsyncClient, auth: dict[str, str], session: AsyncSession
) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    request = await create_feedback_request(client, auth, ada["id"], grace["id"])
    path = f"/v1/feedback-requests/{request['id']}"
    await set_columns(session, request["id"], status="expired")

    for action, body in (("answer", {"kind": "strength", "body": "x"}), ("decline", {})):
        refused = await client.post(f"{path}/{action}", json=body, headers=auth)
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            f"Cannot {action} a feedback request whose status is 'expired'."
        )
    moved = await client.patch(path, json={"due_at": in_days(3)}, headers=auth)
    assert moved.status_code == 409
    assert moved.json()["current_status"] == "expired"
    assert (await client.delete(path, headers=auth)).status_code == 204
    assert (await client.get(path, headers=auth)).status_code == 404


async def test_update_with_if_match(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    request = await create_feedback_request(client, auth, ada["id"], grace["id"])
    path = f"/v1/feedback-requests/{request['id']}"
    etag = (await client.get(path, headers=auth)).headers["ETag"]

    new_due = datetime.now(UTC) + timedelta(days=10)
    updated = await client.patch(
        path,
        json={"prompt": "What should I change?", "due_at": new_due.isoformat()},
        headers={**auth, "If-Match": etag},
    )
    assert updated.status_code == 200
    assert updated.json() == {
        **request,
        "prompt": "What should I change?",
        "due_at": as_returned(new_due),
        "updated_at": updated.json()["updated_at"],
    }
    stale = await client.patch(path, json={"prompt": "x"}, headers={**auth, "If-Match": etag})
    assert stale.status_code == 412
    past = await client.patch(path, json={"due_at": in_days(-1)}, headers=auth)
    assert past.status_code == 422
    assert past.json()["errors"][0]["pointer"] == "/body/due_at"
    nulled = await client.patch(path, json={"due_at": None}, headers=auth)
    assert nulled.status_code == 422
    status = await client.patch(path, json={"status": "answered"}, headers=auth)
    assert status.status_code == 422
    assert status.json()["errors"][0]["pointer"] == "/body/status"

    await client.post(f"{path}/answer", json={"kind": "strength", "body": "Good"}, headers=auth)
    closed = await client.patch(path, json={"prompt": "Changed my mind"}, headers=auth)
    assert closed.status_code == 409
    assert closed.json()["detail"] == (
        "Cannot change the prompt or due_at of a feedback request whose status is 'answered'."
    )
    tagged = await client.patch(path, json={"metadata": {"synced": True}}, headers=auth)
    assert tagged.status_code == 200
    assert tagged.json()["metadata"] == {"synced": True}
    assert tagged.json()["prompt"] == "What should I change?"

    events = await events_of(client, auth, "feedback_request.updated")
    assert [e["data"] for e in events] == [updated.json(), tagged.json()]


async def test_delete_rules(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    open_request = await create_feedback_request(client, auth, ada["id"], grace["id"])
    answered = await create_feedback_request(client, auth, ada["id"], grace["id"])
    declined = await create_feedback_request(client, auth, ada["id"], grace["id"])
    await client.post(
        f"/v1/feedback-requests/{answered['id']}/answer",
        json={"kind": "strength", "body": "Good"},
        headers=auth,
    )
    await client.post(f"/v1/feedback-requests/{declined['id']}/decline", headers=auth)

    path = f"/v1/feedback-requests/{open_request['id']}"
    stale = await client.delete(path, headers={**auth, "If-Match": '"stale"'})
    assert stale.status_code == 412
    etag = (await client.get(path, headers=auth)).headers["ETag"]
    assert (await client.delete(path, headers={**auth, "If-Match": etag})).status_code == 204

    kept = await client.delete(f"/v1/feedback-requests/{answered['id']}", headers=auth)
    assert kept.status_code == 409
    assert kept.json()["detail"] == "Cannot delete a feedback request whose status is 'answered'."
    gone = await client.delete(f"/v1/feedback-requests/{declined['id']}", headers=auth)
    assert gone.status_code == 204

    listed = (await client.get("/v1/feedback-requests", headers=auth)).json()["data"]
    assert [r["id"] for r in listed] == [answered["id"]]
    deleted_events = await events_of(client, auth, "feedback_request.deleted")
    assert [e["subject_id"] for e in deleted_events] == [open_request["id"], declined["id"]]
    assert deleted_events[0]["data"] == open_request


async def test_list_filters_and_pages(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    grace, ada, alan = await people(client, auth, "Grace", "Ada", "Alan")
    r1 = await create_feedback_request(client, auth, ada["id"], grace["id"])
    r2 = await create_feedback_request(client, auth, ada["id"], alan["id"])
    r3 = await create_feedback_request(client, auth, alan["id"], grace["id"])
    await client.post(f"/v1/feedback-requests/{r2['id']}/decline", headers=auth)

    async def ids(**params: str) -> list[str]:
        response = await client.get("/v1/feedback-requests", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["data"]]

    assert await ids() == [r3["id"], r2["id"], r1["id"]]
    assert await ids(requester_id=ada["id"]) == [r2["id"], r1["id"]]
    assert await ids(responder_id=grace["id"]) == [r3["id"], r1["id"]]
    assert await ids(status="open") == [r3["id"], r1["id"]]
    assert await ids(status="declined", requester_id=ada["id"]) == [r2["id"]]
    assert await ids(status="expired") == []
    r2_now = (await client.get(f"/v1/feedback-requests/{r2['id']}", headers=auth)).json()
    assert await ids(updated_since=r2_now["updated_at"]) == [r2["id"]]

    page1 = (await client.get("/v1/feedback-requests?limit=2", headers=auth)).json()
    assert [r["id"] for r in page1["data"]] == [r3["id"], r2["id"]]
    page2 = (
        await client.get(
            f"/v1/feedback-requests?limit=2&cursor={page1['next_cursor']}", headers=auth
        )
    ).json()
    assert page2 == {"data": [r1], "next_cursor": None, "has_more": False}
    bad = await client.get("/v1/feedback-requests?status=closed", headers=auth)
    assert bad.status_code == 422


async def test_idempotent_create_and_answer(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    grace, ada = await people(client, auth, "Grace", "Ada")
    body = {
        "requester_id": ada["id"],
        "responder_id": grace["id"],
        "prompt": "Thoughts?",
        "due_at": in_days(2),
    }
    headers = {**auth, "Idempotency-Key": "ask-grace"}
    first = await client.post("/v1/feedback-requests", json=body, headers=headers)
    replay = await client.post("/v1/feedback-requests", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    listed = (await client.get("/v1/feedback-requests", headers=auth)).json()["data"]
    assert [r["id"] for r in listed] == [first.json()["id"]]
    reused = await client.post(
        "/v1/feedback-requests", json={**body, "prompt": "Other"}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    path = f"/v1/feedback-requests/{first.json()['id']}/answer"
    answer = {"kind": "recognition", "body": "Great work"}
    answer_headers = {**auth, "Idempotency-Key": "answer-1"}
    answered = await client.post(path, json=answer, headers=answer_headers)
    again = await client.post(path, json=answer, headers=answer_headers)
    assert answered.status_code == again.status_code == 200
    assert again.json() == answered.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    feedback = (await client.get("/v1/feedback", headers=auth)).json()["data"]
    assert feedback == [answered.json()["feedback"]]
    assert await event_types(client, auth, "feedback.created", "feedback_request.answered") == [
        "feedback.created",
        "feedback_request.answered",
    ]
    other_body = await client.post(
        path, json={**answer, "body": "Different"}, headers=answer_headers
    )
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"


async def test_concurrent_answers_create_one_feedback(
    committed_client: httpx.AsyncClient,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await make_tenant(committed_app_sessionmaker, "Acme")
    auth = tenant.headers
    grace, ada = await people(committed_client, auth, "Grace", "Ada")
    request = await create_feedback_request(committed_client, auth, ada["id"], grace["id"])
    path = f"/v1/feedback-requests/{request['id']}"
    responses = await asyncio.gather(
        *(
            committed_client.post(
                f"{path}/answer", json={"kind": "strength", "body": f"Take {i}"}, headers=auth
            )
            for i in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    feedback = (await committed_client.get("/v1/feedback", headers=auth)).json()["data"]
    assert feedback == [winner["feedback"]]
    assert {r.json()["current_status"] for r in responses if r.status_code == 409} == {"answered"}
