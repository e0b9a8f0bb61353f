from __future__ import annotations

import httpx

from tests.conftest import TenantKey


async def test_get_tenant_returns_the_callers_tenant(
    client: httpx.AsyncClient, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    mine = await client.get("/v1/tenant", headers=tenant.headers)
    theirs = await client.get("/v1/tenant", headers=other_tenant.headers)

    assert mine.status_code == 200
    assert mine.json()["id"] == str(tenant.tenant_id)
    assert mine.json()["name"] == "Acme"
    assert theirs.json()["id"] == str(other_tenant.tenant_id)
    assert theirs.json()["name"] == "Globex"


async def test_tenant_settings_can_be_tuned(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    before = (await client.get("/v1/tenant", headers=auth)).json()
    assert before["settings"] == {
        "follow_up_reminder_lead_minutes": 1440,
        "follow_up_overdue_grace_minutes": 1440,
        "conversation_reminder_lead_minutes": 60,
        "managers_see_reports": "chain",
        "cors_origins": [],
        "cadence_days": {},
        "cadence_warning_days": 14,
        "reschedule_alert_threshold": 3,
        "series_horizon_days": 35,
        "retention": {
            "private_notes_days": None,
            "webhook_deliveries_days": 30,
            "events_days": 400,
        },
        "on_manager_change": "reassign",
    }
    response = await client.patch(
        "/v1/tenant",
        json={"name": "Acme Corp", "settings": {"conversation_reminder_lead_minutes": 15}},
        headers=auth,
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Acme Corp"
    assert response.json()["settings"]["conversation_reminder_lead_minutes"] == 15
    assert response.json()["settings"]["follow_up_reminder_lead_minutes"] == 1440

    refused = await client.patch(
        "/v1/tenant", json={"settings": {"follow_up_reminder_lead_minutes": -5}}, headers=auth
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == (
        "/body/settings/follow_up_reminder_lead_minutes"
    )
    direct = await client.patch(
        "/v1/tenant", json={"settings": {"managers_see_reports": "direct"}}, headers=auth
    )
    assert direct.json()["settings"]["managers_see_reports"] == "direct"
    unknown = await client.patch(
        "/v1/tenant", json={"settings": {"managers_see_reports": "skip"}}, headers=auth
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/body/settings/managers_see_reports"
    nulled = await client.patch(
        "/v1/tenant", json={"settings": {"follow_up_reminder_lead_minutes": None}}, headers=auth
    )
    assert nulled.status_code == 422
    keep = await client.patch(
        "/v1/tenant", json={"settings": {"on_manager_change": "keep"}}, headers=auth
    )
    assert keep.json()["settings"]["on_manager_change"] == "keep"
    bad = await client.patch(
        "/v1/tenant", json={"settings": {"on_manager_change": "move"}}, headers=auth
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/body/settings/on_manager_change"
