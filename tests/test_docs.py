"""Swagger UI and ReDoc work offline; the OpenAPI document is complete and usable."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import fastapi_offline
import httpx

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
ASSET_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _asset_urls(html: str) -> list[str]:
    return ASSET_URL.findall(html)


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


async def _check_assets_load(client: httpx.AsyncClient, urls: list[str]) -> None:
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 0, url


async def test_swagger_ui_is_served_without_cdn(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = _asset_urls(html)
    assert sorted(urls) == [
        "/static/docs/favicon.png",
        "/static/docs/swagger-ui-bundle.js",
        "/static/docs/swagger-ui.css",
    ]
    assert "cdn" not in html.lower()
    assert "http://" not in html
    assert "https://" not in html
    assert "url: '/openapi.json'" in html
    # No validator badge fetched from swagger.io.
    assert '"validatorUrl": null' in html
    await _check_assets_load(client, urls)

    js = await client.get("/static/docs/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]
    css = await client.get("/static/docs/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")


async def test_redoc_is_served_without_cdn(client: httpx.AsyncClient) -> None:
    response = await client.get("/redoc")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = _asset_urls(html)
    assert sorted(urls) == ["/static/docs/favicon.png", "/static/docs/redoc.standalone.js"]
    assert "cdn" not in html.lower()
    assert "http://" not in html
    assert "https://" not in html
    assert "fonts.googleapis" not in html
    assert '<redoc spec-url="/openapi.json">' in html
    await _check_assets_load(client, urls)
    # The bundle fetches nothing either (it shipped with Redocly's logo on their CDN).
    js = await client.get("/static/docs/redoc.standalone.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "cdn.redoc.ly" not in js.text
    assert 'alt:"redocly logo",onError:()=>t(!1),src:""' in js.text


async def test_redoc_bundle_is_served_without_the_cdn_logo(client: httpx.AsyncClient) -> None:
    """ReDoc's side menu would fetch the Redocly logo from Redocly's CDN on every visit; the
    bundle served has an empty address there and is otherwise fastapi-offline's own."""
    original = (Path(fastapi_offline.__file__).parent / "static/redoc.standalone.js").read_bytes()
    logo = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
    assert original.count(logo) == 1  # when an upgrade drops it, docs.py can stop patching
    response = await client.get("/static/docs/redoc.standalone.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.content == original.replace(logo, b'src:""')
    assert b"cdn.redoc.ly" not in response.content


async def test_swagger_oauth2_redirect_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "https://" not in response.text


async def test_missing_static_asset_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/docs/nope.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"] == "3.1.0"
    assert schema["info"]["title"] == "Career Conversations API"
    assert schema["info"]["version"] == "1.0.0"
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A tenant API key (`Authorization: Bearer cck_live_…`), or a person "
        "session token (`Bearer ccs_…`) acting for its person.",
    }
    assert schema["components"]["securitySchemes"]["AdminToken"]["scheme"] == "bearer"
    assert set(schema["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "code",
    }
    # Docs and static assets are not API operations.
    assert not any(p.startswith(("/docs", "/redoc", "/static")) for p in schema["paths"])


async def test_every_operation_has_a_unique_id_and_a_summary(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = _operations(schema)
    assert len(operations) > 10
    missing_id = [(p, m) for p, m, op in operations if not op.get("operationId")]
    missing_summary = [(p, m) for p, m, op in operations if not op.get("summary")]
    assert missing_id == []
    assert missing_summary == []
    counts = Counter(op["operationId"] for _, _, op in operations)
    assert [op_id for op_id, n in counts.items() if n > 1] == []
    for _, _, op in operations:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", op["operationId"]), op["operationId"]


async def test_authenticated_operations_declare_their_scheme(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    by_id = {op["operationId"]: op for _, _, op in _operations(schema)}
    assert by_id["get_current_tenant"]["security"] == [{"ApiKey": []}]
    assert by_id["list_events"]["security"] == [{"ApiKey": []}]
    assert by_id["admin_create_tenant"]["security"] == [{"AdminToken": []}]
    # Said outright where no credentials are needed, not left for readers to guess.
    assert by_id["healthz"]["security"] == []
    assert by_id["readyz"]["security"] == []
    assert by_id["metrics"]["security"] == []
    # a calendar feed's token is in its URL: calendar apps send no header
    assert by_id["get_calendar_feed"]["security"] == []
    for event_type, item in schema["webhooks"].items():
        assert item["post"]["security"] == [], event_type
    for path, _, op in _operations(schema):
        if path.startswith("/v1/admin"):
            assert op["security"] == [{"AdminToken": []}], path
        elif path.startswith("/v1/calendar-feeds/"):
            assert op["security"] == [], path
        elif path.startswith("/v1"):
            assert op["security"] == [{"ApiKey": []}], path


async def test_problem_responses_are_documented(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path, method, op in _operations(schema):
        if not path.startswith("/v1"):
            continue
        if op["security"]:  # the calendar feed needs no credentials: no 401
            unauthorized = op["responses"]["401"]
            content = unauthorized["content"]["application/problem+json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Problem"}, (path, method)
        # Errors are sent as problem+json only, and each status shows an example of its own.
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (path, status)
                example = response["content"]["application/problem+json"]["example"]
                assert example["status"] == int(status), (path, method, status)


async def test_problem_examples_name_their_status_and_code(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    responses = schema["paths"]["/v1/conversations/{conversation_id}/complete"]["post"]["responses"]
    examples = {
        status: response["content"]["application/problem+json"]["example"]
        for status, response in responses.items()
        if status.startswith(("4", "5"))
    }
    assert {status: (e["status"], e["code"]) for status, e in examples.items()} == {
        "400": (400, "bad_request"),
        "401": (401, "unauthorized"),
        "403": (403, "forbidden"),
        "404": (404, "not_found"),
        "409": (409, "invalid_transition"),
        "415": (415, "unsupported_media_type"),
        "422": (422, "validation_failed"),
        "429": (429, "rate_limited"),
        "500": (500, "internal_error"),
        "503": (503, "database_unavailable"),
    }
    assert examples["409"] == {
        "type": "https://ccapi.dev/problems/invalid-transition",
        "title": "Invalid state transition",
        "status": 409,
        "code": "invalid_transition",
        "detail": "Cannot complete a conversation whose status is 'draft'.",
        "instance": "/v1/conversations/0193a1e5-2222-7ccc-8ddd-000000000042/complete",
        "request_id": "req_5f0c2b6e8d9a4c1e9b7a3d2f1e0c4b6a",
        "current_status": "draft",
    }
    assert examples["422"]["errors"] == [
        {"pointer": "/body/name", "detail": "Field required", "code": "missing"}
    ]
    readyz = schema["paths"]["/readyz"]["get"]["responses"]["503"]
    assert readyz["content"]["application/problem+json"]["example"]["code"] == "not_ready"


async def test_optional_header_and_query_parameters_are_plain(client: httpx.AsyncClient) -> None:
    """Not "string or null": a header or query parameter is sent or left out."""
    schema = (await client.get("/openapi.json")).json()
    parameters = {
        (p["in"], p["name"]): p
        for p in schema["paths"]["/v1/people"]["post"]["parameters"]
        + schema["paths"]["/v1/people"]["get"]["parameters"]
        + schema["paths"]["/v1/people/{person_id}"]["patch"]["parameters"]
        if "$ref" not in p
    }
    idempotency_key = parameters["header", "Idempotency-Key"]
    assert idempotency_key["required"] is False
    assert {k: idempotency_key["schema"][k] for k in ("type", "minLength", "maxLength")} == {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
    }
    assert "default" not in idempotency_key["schema"]
    assert parameters["header", "If-Match"]["required"] is False
    assert parameters["header", "If-Match"]["schema"]["type"] == "string"
    assert parameters["query", "updated_since"]["schema"]["type"] == "string"
    for _, _, op in _operations(schema):
        for parameter in op.get("parameters", []):
            if "$ref" in parameter:
                assert parameter == {"$ref": "#/components/parameters/ActingPerson"}
                continue
            assert "anyOf" not in parameter["schema"], (op["operationId"], parameter["name"])


async def test_read_schemas_require_every_field_they_always_have(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    person = schemas["PersonRead"]
    assert set(person["required"]) == set(person["properties"])
    assert person["properties"]["external_id"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    for name, component in schemas.items():
        if name.endswith("Read"):
            assert set(component["required"]) == set(component["properties"]), name
    # A read example carries the nulls too (FastAPI's writer used to strip them).
    assert schemas["MentorshipRead"]["examples"][0]["ended_at"] is None


async def test_creates_link_to_the_operations_on_what_they_created(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    people = paths["/v1/people"]["post"]["responses"]["201"]["links"]
    assert sorted(people) == [
        "create_calendar_feed",
        "create_person_export",
        "delete_person",
        "get_alignment",
        "get_aspiration",
        "get_assessment",
        "get_person",
        "get_person_cadence",
        "list_aspiration_versions",
        "list_assessment_versions",
        "put_aspiration",
        "put_assessment",
        "revoke_calendar_feed",
        "update_person",
    ]
    assert people["get_person"] == {
        "operationId": "get_person",
        "parameters": {"person_id": "$response.body#/id"},
    }
    items = paths["/v1/conversations/{conversation_id}/agenda-items"]["post"]["responses"]["201"]
    assert items["links"]["update_agenda_item"]["parameters"] == {
        "conversation_id": "$request.path.conversation_id",
        "item_id": "$response.body#/id",
    }
