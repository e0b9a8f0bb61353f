"""Private notes and sealed agenda items never leak, whatever route is asked.

Unique sentinel strings go into every private note and sealed agenda item of the world
(tests/visibility_world.py; body, topic and notes), and into an update of each. Then every
GET operation of the OpenAPI document is called as every role (ids from the world in the
path, lists without filters, every page), plus every event (``GET /v1/events``, all
pages, and each event alone) and every webhook delivery's payload: a sentinel may appear
only in what a read answers its own author. The author must see each of their own
sentinels somewhere, so the test cannot pass by seeing nothing.
"""

from __future__ import annotations

import itertools
import re
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.services import exports
from tests.conftest import TenantKey
from tests.test_visibility_roles import all_pages
from tests.visibility_world import HAS_PERSON_SESSIONS, HAS_SEALED, OPERATIONS, ROLES, World, build
from tests.webhook_receiver import create_endpoint

AUTHORS = ("employee", "manager")


def sentinels() -> dict[str, str]:
    keys = [f"note_private_{a}" for a in AUTHORS]
    if HAS_SEALED:
        keys += [f"{field}_{a}" for a in AUTHORS for field in ("sealed_topic", "sealed_notes")]
    return {key: f"SENTINEL-{key}-{uuid.uuid4().hex}" for key in keys}


def author_of(key: str) -> str:
    return key.rsplit("_", 1)[1]


async def candidates(w: World, endpoint_id: str) -> dict[str, list[str]]:
    """Path parameter → the world's ids to fill in (every note, agenda item and event)."""
    feed = await all_pages(w.client, "/v1/events", w.tenant.headers)
    assert isinstance(feed, list)
    deliveries = await all_pages(
        w.client, f"/v1/webhook-endpoints/{endpoint_id}/deliveries", w.tenant.headers
    )
    assert isinstance(deliveries, list)
    ids = w.ids
    return {
        "person_id": [w.person["employee"], w.person["manager"]],
        "mentorship_id": [ids["mentorship"]],
        "conversation_id": [ids["career"]],
        "agenda_item_id": [v for k, v in ids.items() if k.startswith("agenda_")],
        "note_id": [v for k, v in ids.items() if k.startswith("note_")],
        "goal_id": [ids["goal"]],
        "plan_id": [ids["plan"]],
        "action_item_id": [ids["item"]],
        "feedback_id": [v for k, v in ids.items() if k.startswith("feedback_")],
        "request_id": [ids["request"]],
        "follow_up_id": [ids["follow_up"]],
        "event_id": [e["id"] for e in feed],
        "endpoint_id": [endpoint_id],
        "delivery_id": [d["id"] for d in deliveries],
        "session_id": [ids["session"]] if "session" in ids else [],
        # The world has no series: its routes are still called (a 404 leaks nothing either).
        "series_id": [ids["series"]] if "series" in ids else [str(uuid.uuid4())],
        "template_id": ["00000000-0000-7000-8000-00000000a001"],  # a built-in
        # The career framework holds no private text: its routes are called with unknown ids.
        "competency_id": [str(uuid.uuid4())],
        "track_id": [str(uuid.uuid4())],
        "export_id": [v for k, v in ids.items() if k.startswith("export_")],
    }


def urls(path: str, values: dict[str, list[str]]) -> list[str]:
    names = re.findall(r"\{(\w+)\}", path)
    item = "action_item_id" if path.startswith("/v1/action-plans") else "agenda_item_id"
    keys = [item if n == "item_id" else n for n in names]
    out = []
    for combo in itertools.product(*(values[k] for k in keys)):
        url = path
        for name, value in zip(names, combo, strict=True):
            url = url.replace("{" + name + "}", value)
        out.append(url)
    return out


async def test_no_private_note_or_sealed_item_leaks(
    client: httpx.AsyncClient, tenant: TenantKey, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    marks = sentinels()
    # a webhook endpoint first: every event of the world gets a delivery
    endpoint = await create_endpoint(client, tenant.headers, "http://127.0.0.1:9/hook")
    w = await build(client, tenant, marks)
    # updates by their authors write the sentinels a second time (events, deliveries)
    career = w.ids["career"]
    edits = {}
    for author in AUTHORS:
        note = w.ids[f"note_private_{author}"]
        key = f"note_private_{author}"
        response = await client.patch(
            f"/v1/conversations/{career}/notes/{note}",
            json={"body": marks[key] + " (edited)"},
            headers=w.headers(author),
        )
        edits[key] = response.status_code
        if HAS_SEALED:
            item = w.ids[f"agenda_sealed_{author}"]
            response = await client.patch(
                f"/v1/conversations/{career}/agenda-items/{item}",
                json={"notes": marks[f"sealed_notes_{author}"] + " (edited)"},
                headers=w.headers(author),
            )
            edits[f"sealed_notes_{author}"] = response.status_code
    # exports of both authors, written: each holds its person's own private note
    for author in AUTHORS:
        exported = await client.post(
            f"/v1/people/{w.person[author]}/exports", headers=tenant.headers
        )
        assert exported.status_code == 202, exported.text
        w.ids[f"export_{author}"] = exported.json()["id"]
        assert await exports.run_one(sessionmaker)
    values = await candidates(w, endpoint["id"])
    gets = sorted((op, path) for op, (method, path, _) in OPERATIONS.items() if method == "get")
    roles = [r for r in ROLES if r != "session" or HAS_PERSON_SESSIONS]
    leaks: list[tuple[str, str, str]] = []
    seen_by_author: set[str] = set()
    calls = 0
    for role in roles:
        acting = "employee" if role == "session" else role
        for op, path in gets:
            for url in urls(path, values):
                if "{" not in path:
                    answer = await all_pages(client, url, w.headers(role))
                    text = repr(answer)
                else:
                    text = (await client.get(url, headers=w.headers(role))).text
                calls += 1
                for key, mark in marks.items():
                    if mark not in text:
                        continue
                    # events never carry them, not even to their author
                    if author_of(key) == acting and op not in ("list_events", "get_event"):
                        seen_by_author.add(key)
                    else:
                        leaks.append((role, url, key))
    # every delivery's payload, as the platform (the only one who may read them)
    for delivery in values["delivery_id"]:
        url = f"/v1/webhook-deliveries/{delivery}"
        text = (await client.get(url, headers=w.headers("platform"))).text
        calls += 1
        for key, mark in marks.items():
            if mark in text:
                leaks.append(("platform", f"delivery {delivery}", key))
    assert leaks == []
    assert edits == {key: 200 for key in marks if not key.startswith("sealed_topic")}
    assert seen_by_author == set(marks)  # the positive control
    assert calls > 100
    assert values["delivery_id"] != [] and values["event_id"] != []


async def test_sentinels_are_where_their_author_reads_them(
    client: httpx.AsyncClient, tenant: TenantKey
) -> None:
    """The positive control in detail: each author reads their private note and sealed
    item, one by one and in the conversation's lists."""
    marks = sentinels()
    w = await build(client, tenant, marks)
    career = w.ids["career"]
    found: dict[str, list[str]] = {}
    for author in AUTHORS:
        headers = w.headers(author)
        texts = {
            "note": (
                await client.get(
                    f"/v1/conversations/{career}/notes/{w.ids[f'note_private_{author}']}",
                    headers=headers,
                )
            ).text,
            "notes": (await client.get(f"/v1/conversations/{career}/notes", headers=headers)).text,
        }
        if HAS_SEALED:
            item = w.ids[f"agenda_sealed_{author}"]
            texts["item"] = (
                await client.get(f"/v1/conversations/{career}/agenda-items/{item}", headers=headers)
            ).text
            texts["items"] = (
                await client.get(f"/v1/conversations/{career}/agenda-items", headers=headers)
            ).text
        for key, mark in marks.items():
            if author_of(key) == author:
                found[key] = sorted(name for name, text in texts.items() if mark in text)
    want = {f"note_private_{a}": ["note", "notes"] for a in AUTHORS}
    if HAS_SEALED:
        for a in AUTHORS:
            want[f"sealed_topic_{a}"] = want[f"sealed_notes_{a}"] = ["item", "items"]
    assert found == want
