"""SCIM 2.0 provisioning (RFC 7643/7644) at ``/scim/v2``: Users (the people of
``/v1/people``) and the discovery endpoints, for identity providers and HRIS.

Its own protocol, outside ``/v1``: bodies and errors are ``application/scim+json`` (an
error is a ``urn:ietf:params:scim:api:messages:2.0:Error`` with the status as a string and
a ``scimType``), the routes are described by SCIM's own discovery endpoints rather than
the OpenAPI document (``include_in_schema=False``), and every route needs a tenant API key
with the ``scim`` scope, acting as the platform.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import scim2_models as scim
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.auth import ApiKey, Principal
from app.core.deps import Session
from app.core.errors import ProblemError
from app.core.routing import TransactionalRoute
from app.routers.base import IndexedRouter
from app.routers.common import IfMatch
from app.schemas import scim as schemas
from app.schemas.scim import SCIM_CONTENT_TYPE, ScimUser
from app.services import scim as service

# ProblemError (the rest of the API's errors, raised by auth and the people service) →
# SCIM's scimType for its status.
_SCIM_TYPES = {400: "invalidValue", 409: "uniqueness", 422: "invalidValue"}


def scim_error(status: int, detail: str | None, scim_type: str | None = None) -> Response:
    error = scim.Error(status=status, scim_type=scim_type, detail=detail)
    body = error.model_dump(scim_ctx=scim.Context.RESOURCE_QUERY_RESPONSE)
    return Response(json.dumps(body), status_code=status, media_type=SCIM_CONTENT_TYPE)


def _from_problem(exc: ProblemError) -> Response:
    status = 400 if exc.status == 422 else exc.status
    detail = exc.detail or exc.title
    if exc.errors:
        detail = "; ".join(f"{e.pointer.removeprefix('/body/')}: {e.detail}" for e in exc.errors)
    response = scim_error(status, detail, _SCIM_TYPES.get(exc.status))
    response.headers.update(exc.headers)
    return response


class ScimRoute(TransactionalRoute):
    """A transactional route whose errors leave in SCIM's error format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scim_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except scim.SCIMException as exc:
                return scim_error(exc.status, exc.detail, exc.scim_type or None)
            except ValidationError as exc:
                errors = scim.Error.from_validation_errors(exc)
                first = errors[0]
                return scim_error(first.status or 400, first.detail, first.scim_type)
            except RequestValidationError as exc:
                first_error = exc.errors()[0]
                where = ".".join(str(p) for p in first_error.get("loc", ()))
                return scim_error(400, f"{where}: {first_error.get('msg')}", "invalidValue")
            except ProblemError as exc:
                return _from_problem(exc)
            except StarletteHTTPException as exc:
                return scim_error(exc.status_code, str(exc.detail))
            except IntegrityError:
                # A race past the service's checks: two creates of one userName at once.
                return scim_error(409, "The user conflicts with another one; retry.", "uniqueness")
            except DBAPIError as exc:
                # SQLSTATE class 22: a value PostgreSQL cannot take (U+0000 in a string).
                if str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
                    return scim_error(400, "A value cannot be stored (U+0000?).", "invalidValue")
                raise

        return scim_handler


router = IndexedRouter(
    route_class=ScimRoute, prefix="/scim/v2", tags=["SCIM"], include_in_schema=False
)

ScimKey = Annotated[Principal, Depends(ApiKey("scim", platform_only=True))]
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
DEFAULT_COUNT = 100


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/scim/v2"


def answer(body: Any, status_code: int = 200, **headers: str) -> Response:
    return Response(
        json.dumps(body), status_code=status_code, media_type=SCIM_CONTENT_TYPE, headers=headers
    )


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise scim.InvalidSyntaxException(detail="The body is not JSON.") from None


def _response_parameters(request: Request) -> Any:
    query = request.query_params
    raw = {
        key: query[key]
        for key in ("attributes", "excludedAttributes")
        if key in query and len(query[key]) <= 2000
    }
    if not raw:
        return None
    return scim.ResponseParameters[ScimUser].model_validate(raw)


async def _user_answer(
    request: Request, session: Any, person: Any, status_code: int = 200
) -> Response:
    user = service.to_user(person, _base(request))
    ctx = (
        scim.Context.RESOURCE_CREATION_RESPONSE
        if status_code == 201
        else scim.Context.RESOURCE_QUERY_RESPONSE
    )
    body = user.model_dump(scim_ctx=ctx, response_parameters=_response_parameters(request))
    headers = {"ETag": user.meta.version}
    if status_code == 201:
        headers["Location"] = user.meta.location
    return answer(body, status_code, **headers)


# ---------------------------------------------------------------------------- discovery


@router.get(
    "/ServiceProviderConfig",
    operation_id="scim_get_service_provider_config",
    summary="SCIM service provider configuration",
)
async def scim_get_service_provider_config(request: Request, principal: ScimKey) -> Response:
    """What this SCIM service supports (RFC 7644 §4)."""
    config = schemas.service_provider_config(_base(request))
    body = config.model_dump(scim_ctx=scim.Context.RESOURCE_QUERY_RESPONSE)
    body["meta"] = {"resourceType": "ServiceProviderConfig", "location": request.url.path}
    return answer(body)


def _listed(items: list[Any]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(items),
        "itemsPerPage": len(items),
        "startIndex": 1,
        "Resources": items,
    }


def _resource_types(request: Request) -> list[dict[str, Any]]:
    found = []
    for resource_type in schemas.resource_types():
        body = resource_type.model_dump(scim_ctx=scim.Context.RESOURCE_QUERY_RESPONSE)
        body["meta"] = {
            "resourceType": "ResourceType",
            "location": f"{_base(request)}/ResourceTypes/{resource_type.id}",
        }
        found.append(body)
    return found


def _schemas(request: Request) -> list[dict[str, Any]]:
    found = []
    for schema in schemas.schemas():
        body = schema.model_dump(scim_ctx=scim.Context.RESOURCE_QUERY_RESPONSE)
        body["meta"] = {
            "resourceType": "Schema",
            "location": f"{_base(request)}/Schemas/{schema.id}",
        }
        found.append(body)
    return found


@router.get(
    "/ResourceTypes", operation_id="scim_list_resource_types", summary="SCIM resource types"
)
async def scim_list_resource_types(request: Request, principal: ScimKey) -> Response:
    """The resource types served: User, with the Enterprise User extension."""
    return answer(_listed(_resource_types(request)))


@router.get(
    "/ResourceTypes/{name}", operation_id="scim_get_resource_type", summary="A SCIM resource type"
)
async def scim_get_resource_type(request: Request, name: str, principal: ScimKey) -> Response:
    """One resource type, by name."""
    for body in _resource_types(request):
        if body["id"] == name:
            return answer(body)
    raise scim.NotFoundException(detail=f"No resource type {name[:100]}.")


@router.get("/Schemas", operation_id="scim_list_schemas", summary="SCIM schemas")
async def scim_list_schemas(request: Request, principal: ScimKey) -> Response:
    """The schemas served, with the attributes a person keeps."""
    return answer(_listed(_schemas(request)))


@router.get("/Schemas/{urn}", operation_id="scim_get_schema", summary="A SCIM schema")
async def scim_get_schema(request: Request, urn: str, principal: ScimKey) -> Response:
    """One schema, by URN."""
    for body in _schemas(request):
        if body["id"] == urn:
            return answer(body)
    raise scim.NotFoundException(detail=f"No schema {urn[:200]}.")


# -------------------------------------------------------------------------------- users


def _positive_int(request: Request, name: str, default: int, minimum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw[:20])
    except ValueError:
        raise scim.InvalidValueException(detail=f"{name} must be an integer.") from None
    # Beyond any real list: the page is empty anyway (and PostgreSQL takes no larger OFFSET).
    return min(max(value, minimum), MAX_START)


MAX_START = 2**31 - 1


@router.get("/Users", operation_id="scim_list_users", summary="List SCIM users")
async def scim_list_users(request: Request, principal: ScimKey, session: Session) -> Response:
    """Users, oldest first; `filter` (eq on userName, externalId, emails.value, active,
    joined by and), `startIndex` (1-based) and `count` (at most 200)."""
    filter_text = request.query_params.get("filter")
    if filter_text is not None and len(filter_text) > 1000:
        raise scim.InvalidFilterException(detail="The filter is longer than 1000 characters.")
    start_index = _positive_int(request, "startIndex", 1, 1)
    count = min(_positive_int(request, "count", DEFAULT_COUNT, 0), schemas.MAX_COUNT)
    total, rows = await service.list_users(session, principal, filter_text, start_index, count)
    base = _base(request)
    parameters = _response_parameters(request)
    resources = [
        service.to_user(person, base).model_dump(
            scim_ctx=scim.Context.SEARCH_RESPONSE, response_parameters=parameters
        )
        for person in rows
    ]
    return answer(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": total,
            "itemsPerPage": len(resources),
            "startIndex": start_index,
            "Resources": resources,
        }
    )


@router.post("/Users", operation_id="scim_create_user", summary="Create a SCIM user")
async def scim_create_user(request: Request, principal: ScimKey, session: Session) -> Response:
    """Create the person a SCIM user describes (`person.created`)."""
    user = ScimUser.model_validate(
        await _body(request), scim_ctx=scim.Context.RESOURCE_CREATION_REQUEST
    )
    person = await service.create(session, principal, user)
    return await _user_answer(request, session, person, 201)


@router.get("/Users/{user_id}", operation_id="scim_get_user", summary="Get a SCIM user")
async def scim_get_user(
    request: Request, user_id: str, principal: ScimKey, session: Session
) -> Response:
    """One user: 404 for an unknown id, another tenant's, or a user deleted through SCIM."""
    person = await service.get(session, principal, user_id)
    return await _user_answer(request, session, person)


@router.put("/Users/{user_id}", operation_id="scim_replace_user", summary="Replace a SCIM user")
async def scim_replace_user(
    request: Request, user_id: str, principal: ScimKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Replace the user's attributes (`person.updated` when anything changed)."""
    user = ScimUser.model_validate(
        await _body(request), scim_ctx=scim.Context.RESOURCE_REPLACEMENT_REQUEST
    )
    person = await service.get_for_write(session, principal, user_id, if_match)
    person = await service.replace(session, principal, person, user)
    return await _user_answer(request, session, person)


@router.patch("/Users/{user_id}", operation_id="scim_patch_user", summary="Patch a SCIM user")
async def scim_patch_user(
    request: Request, user_id: str, principal: ScimKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Apply a PatchOp's `add`, `replace` and `remove` operations, with or without `path`."""
    operations = scim.PatchOp[ScimUser].model_validate(
        await _body(request), scim_ctx=scim.Context.RESOURCE_PATCH_REQUEST
    )
    person = await service.get_for_write(session, principal, user_id, if_match)
    person = await service.patch(session, principal, person, operations, _base(request))
    return await _user_answer(request, session, person)


@router.delete("/Users/{user_id}", operation_id="scim_delete_user", summary="Delete a SCIM user")
async def scim_delete_user(
    user_id: str, principal: ScimKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Deactivate the person (`person.updated`, status inactive); SCIM then answers 404."""
    person = await service.get_for_write(session, principal, user_id, if_match)
    await service.delete(session, principal, person)
    return Response(status_code=204)


@router.post("/.search", operation_id="scim_search_all", summary="Search every resource type")
async def scim_search_all(principal: ScimKey) -> Response:
    """Searching several resource types at once (POST /.search): not implemented (501)."""
    return scim_error(501, "POST /.search is not supported; use GET /Users?filter=….")


@router.post("/Users/.search", operation_id="scim_search_users", summary="Search users")
async def scim_search_users(principal: ScimKey) -> Response:
    """POST /Users/.search: not implemented (501); GET /Users takes the same parameters."""
    return scim_error(501, "POST /Users/.search is not supported; use GET /Users?filter=….")


@router.api_route(
    "/{endpoint:path}",
    methods=["POST", "PUT", "PATCH", "DELETE"],
    operation_id="scim_discovery_method_not_allowed",
    summary="Discovery is read-only",
)
async def scim_discovery_method_not_allowed(request: Request, endpoint: str) -> Response:
    """Any other method than GET on a discovery endpoint: a SCIM 405; elsewhere a 404."""
    head = endpoint.split("/", 1)[0]
    if head in ("ServiceProviderConfig", "ResourceTypes", "Schemas"):
        response = scim_error(405, f"{request.method} is not allowed on /{head}; use GET.")
        response.headers["Allow"] = "GET"
        return response
    if head == "Users":
        allowed = "GET, POST" if endpoint == "Users" else "GET, PUT, PATCH, DELETE"
        response = scim_error(405, f"{request.method} is not allowed here; use {allowed}.")
        response.headers["Allow"] = allowed
        return response
    raise scim.NotFoundException(detail=f"No SCIM endpoint {request.url.path[:200]}.")


@router.api_route(
    "/{rest:path}", methods=ALL_METHODS, operation_id="scim_not_found", summary="No such route"
)
async def scim_not_found(request: Request) -> Response:
    """Anything else under /scim/v2: a SCIM 404."""
    raise scim.NotFoundException(detail=f"No SCIM endpoint {request.url.path[:200]}.")
