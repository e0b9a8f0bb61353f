"""scim2-tester, the SCIM 2.0 conformance checker, against a live server (uvicorn on
127.0.0.1): no failed check for the discovery endpoints and Users.

One piece of configuration: the tester fills ``manager.value`` (the SCIM id of the user's
manager, a plain string in RFC 7643 §4.3) with a random string, which names no user, and
the service refuses a manager it does not know (400 invalidValue). So the test reads the
service's description from its discovery endpoints, as the tester would, and gives the
``value`` field of ``manager`` an example (the tester's own mechanism for values it cannot
invent): the id of a user created first. One check is skipped by the tester itself:
``search_with_attributes`` (POST /.search, searching every resource type at once, which
the service answers 501 Not Implemented, as RFC 7644 §3.12 allows)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Context, ListResponse, ResourceType, Schema, ScimProvider
from scim2_tester import Status, check_server
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from app.schemas.scim import ENTERPRISE_URN
from tests.conftest import make_tenant
from tests.live_server import serving

FAILED = {Status.ERROR, Status.CRITICAL}


def _provider(http: httpx2.Client, manager_id: str) -> ScimProvider:
    """The service as its discovery endpoints describe it, with an example manager id."""
    ctx = Context.RESOURCE_QUERY_RESPONSE
    schemas = ListResponse[Schema].model_validate(http.get("/Schemas").json(), scim_ctx=ctx)
    types = ListResponse[ResourceType].model_validate(
        http.get("/ResourceTypes").json(), scim_ctx=ctx
    )
    provider = ScimProvider.from_discovery(schemas.resources or [], types.resources or [])
    enterprise = provider.model_for(ENTERPRISE_URN)
    assert enterprise is not None
    manager = enterprise.model_fields["manager"].annotation
    manager_model: Any = next(a for a in getattr(manager, "__args__", (manager,)) if a)
    manager_model.model_fields["value"].examples = [manager_id]
    return ScimProvider(provider.models, provider.resource_types)


def _run(port: int, secret: str) -> list[Any]:
    with httpx2.Client(
        base_url=f"http://127.0.0.1:{port}/scim/v2",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    ) as http:
        created = http.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "boss@example.com",
            },
        )
        assert created.status_code == 201, created.text
        provider = _provider(http, created.json()["id"])
        return check_server(SyncSCIMClient(http, provider=provider), resource_types=["User"])


async def test_scim2_tester_reports_no_failed_check(
    settings: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    key = await make_tenant(committed_app_sessionmaker, "Acme", ("scim",))
    app = create_app(settings, engine=engine, sessionmaker=committed_app_sessionmaker)
    async with serving(app) as port:
        results = await asyncio.to_thread(_run, port, key.secret)
    failed = [(r.title, r.resource_type, r.reason) for r in results if r.status in FAILED]
    assert failed == []
    # POST /.search (several resource types at once) answers 501: the tester skips it.
    skipped = {r.title for r in results if r.status == Status.SKIPPED}
    assert skipped == {"search_with_attributes"}
    ran = {r.title for r in results if r.status != Status.SKIPPED}
    assert ran >= {
        "service_provider_config_endpoint",
        "query_all_resource_types",
        "query_all_schemas",
        "object_creation",
        "object_query",
        "object_replacement",
        "object_deletion",
        "check_add_attribute",
        "check_remove_attribute",
        "check_replace_attribute",
    }
