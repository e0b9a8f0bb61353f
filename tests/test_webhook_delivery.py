"""Delivery against real HTTP receivers on loopback, by an in-process worker.

The test settings shorten the retry schedule to 1 s, 1 s, 1 s; tests that need other
figures copy the settings. Waits use generous timeouts; nothing asserts how fast
anything was.
"""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.background import webhook_delivery
from app.background.webhook_delivery import (
    NextStep,
    Outcome,
    after_failure,
    parse_retry_after,
    retry_delay,
)
from app.core.config import Settings
from app.models.base import utcnow
from app.models.webhook import WebhookEndpoint
from tests.conftest import TenantKey
from tests.factories import create_person
from tests.webhook_receiver import (
    Received,
    Reply,
    closed_port,
    create_endpoint,
    eventually,
    running_receiver,
    running_workers,
    worker_settings,
)

Client = httpx.AsyncClient
Sessionmaker = async_sessionmaker[AsyncSession]


async def deliveries_of(
    client: Client, headers: dict[str, str], endpoint_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params={"limit": 100}, headers=headers
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def detail(client: Client, headers: dict[str, str], delivery_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/webhook-deliveries/{delivery_id}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def settled(
    client: Client, headers: dict[str, str], endpoint_id: str, count: int, within: float = 20.0
) -> list[dict[str, Any]]:
    """Wait until the endpoint has ``count`` deliveries and none is pending; return them."""
    found: list[dict[str, Any]] = []

    async def check() -> bool:
        nonlocal found
        found = await deliveries_of(client, headers, endpoint_id)
        return len(found) == count and all(d["status"] != "pending" for d in found)

    await eventually(check, within=within)
    return found


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


# Pure rules


def test_retry_delay_follows_the_schedule_with_jitter(settings: Settings) -> None:
    rng = random.Random(7)
    schedule = settings.model_copy(update={"webhook_retry_schedule": [5.0, 300.0]})
    failure = Outcome("http_error", utcnow(), 10, status_code=500)
    for _ in range(200):
        first = retry_delay(schedule, 1, failure, rng)
        second = retry_delay(schedule, 2, failure, rng)
        assert first is not None and 4.0 <= first <= 6.0
        assert second is not None and 240.0 <= second <= 360.0
    assert retry_delay(schedule, 3, failure, rng) is None


def test_retry_delay_floors_throttling_and_clamps_retry_after(settings: Settings) -> None:
    rng = random.Random(7)
    schedule = settings.model_copy(
        update={"webhook_retry_schedule": [10.0], "webhook_retry_floor_seconds": 60.0}
    )

    def delay(**fields: Any) -> float | None:
        return retry_delay(schedule, 1, Outcome(started_at=utcnow(), duration_ms=1, **fields), rng)

    assert delay(result="http_error", status_code=503, retry_after=15.0) == 15.0
    assert delay(result="http_error", status_code=503, retry_after=100.0) == 20.0
    assert delay(result="http_error", status_code=503, retry_after=1.0) == 10.0
    assert delay(result="http_error", status_code=429, retry_after=1.0) == 60.0
    assert delay(result="http_error", status_code=429) == 60.0
    assert delay(result="timeout") == 60.0
    late = schedule.model_copy(update={"webhook_retry_schedule": [100.0]})
    throttled = Outcome("http_error", utcnow(), 1, status_code=429, retry_after=500.0)
    assert retry_delay(late, 1, throttled, rng) == 200.0


def test_after_failure_retries_fails_or_disables(settings: Settings) -> None:
    rules = settings.model_copy(
        update={
            "webhook_retry_schedule": [10.0, 20.0],
            "webhook_retry_floor_seconds": 60.0,
            "webhook_disable_after_seconds": 3600.0,
        }
    )
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    error = Outcome("http_error", now, 5, status_code=500, retry_after=15.0)
    gone = Outcome("http_error", now, 5, status_code=410)

    def step(outcome: Outcome, **fields: Any) -> NextStep:
        decision: dict[str, Any] = {
            "attempts_in_cycle": 1,
            "endpoint_enabled": True,
            "failing_since": now - timedelta(minutes=5),
            "now": now,
            "rng": random.Random(7),
        }
        return after_failure(rules, outcome, **{**decision, **fields})

    assert step(error) == NextStep("pending", retry_in=15.0)
    assert step(error, attempts_in_cycle=2) == NextStep("pending", retry_in=20.0)
    assert step(error, attempts_in_cycle=3) == NextStep("failed")
    assert step(gone) == NextStep("failed", disable_reason="The endpoint answered 410 Gone.")
    # The first failure of a streak starts it: failing_since is now.
    assert step(error, failing_since=now) == NextStep("pending", retry_in=15.0)
    assert step(error, failing_since=now - timedelta(seconds=3599)) == NextStep(
        "pending", retry_in=15.0
    )
    assert step(error, failing_since=now - timedelta(hours=1)) == NextStep(
        "failed",
        disable_reason="Every delivery attempt failed since 2026-01-01T11:00:00Z.",
    )
    # A disabled endpoint is neither retried nor disabled again, whatever the answer.
    assert step(error, endpoint_enabled=False) == NextStep("failed")
    assert step(gone, endpoint_enabled=False) == NextStep("failed")
    assert step(error, endpoint_enabled=False, failing_since=now - timedelta(days=9)) == (
        NextStep("failed")
    )


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# Against receivers


async def test_deliveries_are_signed_and_verify_with_standardwebhooks(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    async with running_receiver() as rx:
        full = await create_endpoint(committed_client, auth, rx.url("/full"))
        thin = await create_endpoint(committed_client, auth, rx.url("/thin"), payload="thin")
        updates = await create_endpoint(
            committed_client, auth, rx.url("/updates"), event_types=["person.updated"]
        )
        async with running_workers(engine, committed_app_sessionmaker, worker_settings(settings)):
            person = await create_person(committed_client, auth, name="Ada")
            patched = await committed_client.patch(
                f"/v1/people/{person['id']}", json={"title": "CTO"}, headers=auth
            )
            await rx.wait_for(
                lambda: (
                    (len(rx.at("/full")), len(rx.at("/thin")), len(rx.at("/updates"))) == (2, 2, 1)
                )
            )
            await settled(committed_client, auth, full["id"], 2)

    events = (await committed_client.get("/v1/events", headers=auth)).json()["data"]
    event_ids = {e["type"]: e["id"] for e in events}

    by_type: dict[str, Received] = {}
    for request in rx.at("/full"):
        payload = Webhook(full["secret"]).verify(request.body, request.headers)
        by_type[payload["type"]] = request
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("CareerConversationsAPI-Webhooks/")
        assert request.webhook_id == event_ids[payload["type"]]
        with pytest.raises(WebhookVerificationError):
            Webhook(thin["secret"]).verify(request.body, request.headers)
    created = Webhook(full["secret"]).verify(
        by_type["person.created"].body, by_type["person.created"].headers
    )
    assert created["data"] == person
    assert created["timestamp"].endswith("Z")
    updated = Webhook(full["secret"]).verify(
        by_type["person.updated"].body, by_type["person.updated"].headers
    )
    assert updated["data"] == patched.json()

    for request in rx.at("/thin"):
        payload = Webhook(thin["secret"]).verify(request.body, request.headers)
        assert payload["data"] == {"object": "person", "id": person["id"]}

    [only_update] = rx.at("/updates")
    assert Webhook(updates["secret"]).verify(only_update.body, only_update.headers)["type"] == (
        "person.updated"
    )

    [latest, _] = await deliveries_of(committed_client, auth, full["id"])
    shown = await detail(committed_client, auth, latest["id"])
    assert shown["status"] == "succeeded"
    assert shown["attempt_count"] == 1
    assert shown["completed_at"] is not None
    assert shown["next_attempt_at"] is None
    [attempt] = shown["attempts"]
    assert attempt["attempt"] == 1
    assert attempt["result"] == "succeeded"
    assert attempt["status_code"] == 200
    assert attempt["response_body"] == "ok"
    assert attempt["error"] is None
    assert attempt["url"] == rx.url("/full")
    assert attempt["duration_ms"] >= 0


async def test_a_rotated_secret_signs_alongside_the_previous_one(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    async with running_receiver() as rx:
        endpoint = await create_endpoint(committed_client, auth, rx.url())
        rotated = await committed_client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=auth
        )
        new_secret = rotated.json()["secret"]
        async with running_workers(engine, committed_app_sessionmaker, worker_settings(settings)):
            await create_person(committed_client, auth)
            await rx.wait_for(lambda: len(rx.requests) == 1)
    [request] = rx.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret, signature in zip((new_secret, endpoint["secret"]), signatures, strict=True):
        one = {**request.headers, "webhook-signature": signature}
        Webhook(secret).verify(request.body, one)
        other = endpoint["secret"] if secret == new_secret else new_secret
        with pytest.raises(WebhookVerificationError):
            Webhook(other).verify(request.body, one)
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(endpoint["secret"]).verify(request.body, request.headers)


async def test_retries_follow_the_schedule_after_errors_timeouts_and_refusals(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    quick = worker_settings(settings, webhook_timeout=0.5, webhook_retry_floor_seconds=0.0)
    assert quick.webhook_retry_schedule == [1.0, 1.0, 1.0]
    async with running_receiver() as rx:
        rx.reply("/error", Reply(500, b"boom"))
        rx.reply("/slow", Reply(200, b"late", delay=1.5))
        error = await create_endpoint(committed_client, auth, rx.url("/error"))
        slow = await create_endpoint(committed_client, auth, rx.url("/slow"))
        refused = await create_endpoint(
            committed_client, auth, f"http://127.0.0.1:{closed_port()}/hook"
        )
        await create_person(committed_client, auth)
        async with running_workers(engine, committed_app_sessionmaker, quick):
            results = {}
            for name, endpoint in (("error", error), ("slow", slow), ("refused", refused)):
                [delivery] = await settled(committed_client, auth, endpoint["id"], 1)
                results[name] = await detail(committed_client, auth, delivery["id"])

    for name, shown in results.items():
        assert shown["status"] == "failed", name
        assert shown["attempt_count"] == 4, name
        attempts = shown["attempts"]
        assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
        starts = [when(a["started_at"]) for a in attempts]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        assert all(gap >= 0.8 for gap in gaps), (name, gaps)  # 1 s - 20 % jitter, at least
        assert shown["last_error"] == attempts[-1]["error"]

    assert {
        (a["result"], a["status_code"], a["response_body"]) for a in results["error"]["attempts"]
    } == {("http_error", 500, "boom")}
    assert results["error"]["last_status_code"] == 500
    assert {(a["result"], a["status_code"], a["error"]) for a in results["slow"]["attempts"]} == {
        ("timeout", None, "No answer within 0.5 s.")
    }
    refusals = results["refused"]["attempts"]
    assert {(a["result"], a["status_code"]) for a in refusals} == {("connection_error", None)}
    assert all(a["error"].startswith("ConnectError") for a in refusals)

    errors = rx.at("/error")
    assert len(errors) == 4
    assert len({r.webhook_id for r in errors}) == 1  # the same message on every retry
    for request in errors:
        Webhook(error["secret"]).verify(request.body, request.headers)
    assert len(rx.at("/slow")) == 4


async def test_throttling_waits_at_least_the_floor_and_retry_after_is_clamped(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    patient = worker_settings(settings, webhook_retry_schedule=[10.0, 10.0])
    assert patient.webhook_retry_floor_seconds == 60.0
    async with running_receiver() as rx:
        rx.reply("/throttled", Reply(429, headers={"retry-after": "1"}))
        rx.reply("/busy", Reply(503, headers={"retry-after": "15"}))
        rx.reply("/busier", Reply(503, headers={"retry-after": "100"}))
        endpoints = {
            path: await create_endpoint(committed_client, auth, rx.url(path))
            for path in ("/throttled", "/busy", "/busier")
        }
        await create_person(committed_client, auth)
        async with running_workers(engine, committed_app_sessionmaker, patient):
            await rx.wait_for(lambda: len(rx.requests) == 3)

            async def recorded() -> bool:
                for endpoint in endpoints.values():
                    [d] = await deliveries_of(committed_client, auth, endpoint["id"])
                    if d["attempt_count"] != 1:
                        return False
                return True

            await eventually(recorded)
    waits = {}
    for path, endpoint in endpoints.items():
        [delivery] = await deliveries_of(committed_client, auth, endpoint["id"])
        assert delivery["status"] == "pending"
        gap = when(delivery["next_attempt_at"]) - when(delivery["last_attempt_at"])
        waits[path] = gap.total_seconds()
    assert waits["/throttled"] >= 60.0
    assert 15.0 <= waits["/busy"] < 19.0
    assert 20.0 <= waits["/busier"] < 24.0


async def test_410_disables_the_endpoint_and_records_an_event(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    async with running_receiver() as rx:
        rx.reply("/gone", Reply(410, b"gone"))
        gone = await create_endpoint(committed_client, auth, rx.url("/gone"))
        watcher = await create_endpoint(
            committed_client, auth, rx.url("/watch"), event_types=["webhook_endpoint.disabled"]
        )
        await create_person(committed_client, auth, name="Ada")
        await create_person(committed_client, auth, name="Grace")
        one_at_a_time = worker_settings(settings, worker_concurrency=1)
        async with running_workers(engine, committed_app_sessionmaker, one_at_a_time):
            await rx.wait_for(lambda: len(rx.at("/watch")) == 1)
            failed = await settled(committed_client, auth, gone["id"], 2)

    endpoint = (
        await committed_client.get(f"/v1/webhook-endpoints/{gone['id']}", headers=auth)
    ).json()
    assert endpoint["enabled"] is False
    assert endpoint["disabled_reason"] == "The endpoint answered 410 Gone."
    assert endpoint["disabled_at"] is not None
    assert len(rx.at("/gone")) == 1  # the endpoint is not called again
    assert sorted(d["attempt_count"] for d in failed) == [0, 1]
    assert {d["status"] for d in failed} == {"failed"}
    unsent = next(d for d in failed if d["attempt_count"] == 0)
    assert unsent["last_error"] == "The endpoint was disabled: The endpoint answered 410 Gone."

    events = (
        await committed_client.get(
            "/v1/events", params={"type": "webhook_endpoint.disabled"}, headers=auth
        )
    ).json()["data"]
    [event] = events
    assert event["subject_id"] == gone["id"]
    assert event["api_key_id"] is None
    assert event["data"]["disabled_reason"] == "The endpoint answered 410 Gone."
    [notice] = rx.at("/watch")
    payload = Webhook(watcher["secret"]).verify(notice.body, notice.headers)
    assert payload["type"] == "webhook_endpoint.disabled"
    assert payload["data"]["id"] == gone["id"]
    assert payload["data"]["enabled"] is False
    assert notice.webhook_id == event["id"]


async def test_an_endpoint_failing_continuously_is_disabled(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    impatient = worker_settings(settings, webhook_disable_after_seconds=0.5)
    async with running_receiver() as rx:
        rx.reply("/down", Reply(502))
        down = await create_endpoint(committed_client, auth, rx.url("/down"))
        await create_person(committed_client, auth)
        async with running_workers(engine, committed_app_sessionmaker, impatient):
            [delivery] = await settled(committed_client, auth, down["id"], 1)
    endpoint = (
        await committed_client.get(f"/v1/webhook-endpoints/{down['id']}", headers=auth)
    ).json()
    assert endpoint["enabled"] is False
    assert endpoint["disabled_reason"].startswith("Every delivery attempt failed since ")
    # The first failure starts the clock; the retry 0.8 s or more later finds it past 0.5 s.
    assert delivery["status"] == "failed"
    assert delivery["attempt_count"] == 2
    events = (
        await committed_client.get(
            "/v1/events", params={"type": "webhook_endpoint.disabled"}, headers=auth
        )
    ).json()["data"]
    assert [e["subject_id"] for e in events] == [down["id"]]


async def test_retry_replays_and_recover_resends_failed_deliveries(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    brief = worker_settings(settings, webhook_retry_schedule=[0.2])
    async with running_receiver() as rx:
        rx.reply("/flaky", Reply(500))
        flaky = await create_endpoint(committed_client, auth, rx.url("/flaky"))
        start = utcnow()
        await create_person(committed_client, auth, name="Ada")
        async with running_workers(engine, committed_app_sessionmaker, brief):
            [first] = await settled(committed_client, auth, flaky["id"], 1)
            assert (first["status"], first["attempt_count"]) == ("failed", 2)

            rx.reply("/flaky", Reply(200))
            retried = await committed_client.post(
                f"/v1/webhook-deliveries/{first['id']}/retry", headers=auth
            )
            assert retried.status_code == 202
            assert retried.json()["status"] == "pending"
            await settled(committed_client, auth, flaky["id"], 1)
            replayed = await detail(committed_client, auth, first["id"])
            assert replayed["status"] == "succeeded"
            assert [a["result"] for a in replayed["attempts"]] == [
                "http_error",
                "http_error",
                "succeeded",
            ]
            assert len({r.webhook_id for r in rx.at("/flaky")}) == 1
            async with committed_app_sessionmaker() as session:
                healed = await session.get(WebhookEndpoint, uuid.UUID(flaky["id"]))
                assert healed is not None
                assert healed.failing_since is None  # a success ends the failing streak

            again = await committed_client.post(
                f"/v1/webhook-deliveries/{first['id']}/retry", headers=auth
            )
            assert again.status_code == 202  # a succeeded delivery can be replayed too
            await rx.wait_for(lambda: len(rx.at("/flaky")) == 4)
            await settled(committed_client, auth, flaky["id"], 1)

            rx.reply("/flaky", Reply(500))
            await create_person(committed_client, auth, name="Grace")
            await create_person(committed_client, auth, name="Alan")
            found = await settled(committed_client, auth, flaky["id"], 3)
            assert sorted(d["status"] for d in found) == ["failed", "failed", "succeeded"]

            rx.reply("/flaky", Reply(200))
            recovered = await committed_client.post(
                f"/v1/webhook-endpoints/{flaky['id']}/recover",
                params={"since": start.isoformat()},
                headers=auth,
            )
            assert recovered.status_code == 200
            assert recovered.json()["recovered"] == 2
            found = await settled(committed_client, auth, flaky["id"], 3)
    assert [d["status"] for d in found] == ["succeeded"] * 3
    for delivery in found[:2]:
        shown = await detail(committed_client, auth, delivery["id"])
        assert [a["result"] for a in shown["attempts"]] == [
            "http_error",
            "http_error",
            "succeeded",
        ]


async def test_redirects_are_not_followed_and_response_bodies_are_cut_at_4_kib(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    once = worker_settings(settings, webhook_retry_schedule=[])
    async with running_receiver() as rx:
        rx.reply("/moved", Reply(302, headers={"location": rx.url("/target")}))
        rx.reply("/big", Reply(200, b"x" * 10_000 + b"\x00"))
        moved = await create_endpoint(committed_client, auth, rx.url("/moved"))
        big = await create_endpoint(committed_client, auth, rx.url("/big"))
        await create_person(committed_client, auth)
        async with running_workers(engine, committed_app_sessionmaker, once):
            [redirected] = await settled(committed_client, auth, moved["id"], 1)
            [answered] = await settled(committed_client, auth, big["id"], 1)
    assert rx.at("/target") == []
    shown = await detail(committed_client, auth, redirected["id"])
    assert shown["status"] == "failed"
    [attempt] = shown["attempts"]
    assert attempt["status_code"] == 302
    assert attempt["error"] == (
        f"HTTP 302: redirects are not followed (Location: {rx.url('/target')})."
    )
    [big_attempt] = (await detail(committed_client, auth, answered["id"]))["attempts"]
    assert big_attempt["result"] == "succeeded"
    assert big_attempt["response_body"] == "x" * 4096


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def _scraped(text: str) -> dict[str, float]:
    """Unlabelled samples of a /metrics page, by name."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


async def test_metrics_count_deliveries_attempts_queue_and_latency(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    before = {
        "succeeded": _sample("ccapi_webhook_deliveries_total", {"outcome": "succeeded"}),
        "attempts": _sample("ccapi_webhook_attempts_total", {"result": "succeeded"}),
        "latency": _sample("ccapi_webhook_delivery_latency_seconds_count"),
    }
    async with running_receiver() as rx:
        endpoint = await create_endpoint(committed_client, auth, rx.url())
        await create_person(committed_client, auth)
        queued = _scraped((await committed_client.get("/metrics")).text)
        assert queued["ccapi_webhook_queue_depth"] == 1.0
        assert queued["ccapi_webhook_due"] == 1.0
        assert queued["ccapi_webhook_oldest_pending_age_seconds"] > 0.0
        async with running_workers(engine, committed_app_sessionmaker, worker_settings(settings)):
            await settled(committed_client, auth, endpoint["id"], 1)
    drained = _scraped((await committed_client.get("/metrics")).text)
    assert drained["ccapi_webhook_queue_depth"] == 0.0
    assert drained["ccapi_webhook_due"] == 0.0
    assert drained["ccapi_webhook_oldest_pending_age_seconds"] == 0.0
    assert _sample("ccapi_webhook_deliveries_total", {"outcome": "succeeded"}) == (
        before["succeeded"] + 1
    )
    assert _sample("ccapi_webhook_attempts_total", {"result": "succeeded"}) == (
        before["attempts"] + 1
    )
    assert _sample("ccapi_webhook_delivery_latency_seconds_count") == before["latency"] + 1


async def test_stopping_lets_in_flight_sends_finish(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    async with running_receiver() as rx:
        rx.reply("/slow", Reply(200, delay=1.0))
        endpoint = await create_endpoint(committed_client, auth, rx.url("/slow"))
        await create_person(committed_client, auth)
        async with running_workers(engine, committed_app_sessionmaker, worker_settings(settings)):
            await rx.wait_for(lambda: len(rx.requests) == 1)
        # stop() returned: the send it had in flight finished and was recorded.
        [delivery] = await deliveries_of(committed_client, auth, endpoint["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["attempt_count"] == 1


async def test_a_worker_whose_lease_lapsed_cannot_overwrite_the_result(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    auth = tenant_c.headers
    endpoint = await create_endpoint(committed_client, auth, "http://127.0.0.1:9/hook")
    await create_person(committed_client, auth)
    # A zero-second lease lapses at once: the row is due again for the next claimer.
    [stale] = await webhook_delivery.claim(
        committed_app_sessionmaker, settings.keyring, 10, lease_seconds=0
    )
    [fresh] = await webhook_delivery.claim(
        committed_app_sessionmaker, settings.keyring, 10, lease_seconds=60
    )
    assert fresh.id == stale.id
    assert fresh.lease_token != stale.lease_token
    assert (
        await webhook_delivery.claim(
            committed_app_sessionmaker, settings.keyring, 10, lease_seconds=60
        )
        == []
    )

    in_flight = await committed_client.post(
        f"/v1/webhook-deliveries/{fresh.id}/retry", headers=auth
    )
    assert in_flight.status_code == 409

    rng = random.Random(1)
    ok = Outcome("succeeded", utcnow(), 3, status_code=200, response_body="ok")
    late = Outcome("http_error", utcnow() - timedelta(seconds=1), 3, status_code=500)
    assert await webhook_delivery.record(committed_app_sessionmaker, fresh, ok, settings, rng) == (
        "succeeded"
    )
    assert (
        await webhook_delivery.record(committed_app_sessionmaker, stale, late, settings, rng)
        is None
    )
    [delivery] = await deliveries_of(committed_client, auth, endpoint["id"])
    assert (delivery["status"], delivery["attempt_count"]) == ("succeeded", 1)
    assert len((await detail(committed_client, auth, delivery["id"]))["attempts"]) == 1


async def test_one_statement_create_enqueues_full_and_thin_bodies(
    committed_client: Client,
    committed_app_sessionmaker: Sessionmaker,
    engine: AsyncEngine,
    settings: Settings,
    tenant_c: TenantKey,
) -> None:
    """A conversation's create writes its row, event and deliveries in one statement (the
    fan-out built in SQL): each subscribed endpoint gets its own style, signed, and an
    endpoint not subscribed to the type or disabled gets nothing."""
    auth = tenant_c.headers
    async with running_receiver() as rx:
        full = await create_endpoint(committed_client, auth, rx.url("/full"))
        thin = await create_endpoint(committed_client, auth, rx.url("/thin"), payload="thin")
        await create_endpoint(
            committed_client, auth, rx.url("/people"), event_types=["person.created"]
        )
        off = await create_endpoint(committed_client, auth, rx.url("/off"))
        disabled = await committed_client.patch(
            f"/v1/webhook-endpoints/{off['id']}", json={"enabled": False}, headers=auth
        )
        assert disabled.status_code == 200, disabled.text
        employee = await create_person(committed_client, auth, name="Ada")
        facilitator = await create_person(committed_client, auth, name="Grace")
        async with running_workers(engine, committed_app_sessionmaker, worker_settings(settings)):
            created = await committed_client.post(
                "/v1/conversations",
                json={"employee_id": employee["id"], "facilitator_id": facilitator["id"]},
                headers=auth,
            )
            assert created.status_code == 201, created.text
            conversation = created.json()
            await rx.wait_for(
                lambda: (
                    (len(rx.at("/full")), len(rx.at("/thin")), len(rx.at("/people"))) == (3, 3, 2)
                )
            )
            await settled(committed_client, auth, full["id"], 3)

    assert rx.at("/off") == []
    events = (await committed_client.get("/v1/events", headers=auth)).json()["data"]
    [event] = [e for e in events if e["type"] == "conversation.created"]
    assert event["data"] == conversation
    [full_body] = [
        Webhook(full["secret"]).verify(r.body, r.headers)
        for r in rx.at("/full")
        if r.webhook_id == event["id"]
    ]
    assert full_body["type"] == "conversation.created"
    assert full_body["data"] == conversation
    assert full_body["timestamp"].endswith("Z")
    [thin_body] = [
        Webhook(thin["secret"]).verify(r.body, r.headers)
        for r in rx.at("/thin")
        if r.webhook_id == event["id"]
    ]
    assert thin_body["data"] == {"object": "conversation", "id": conversation["id"]}
    assert event["id"] not in {r.webhook_id for r in rx.at("/people")}
