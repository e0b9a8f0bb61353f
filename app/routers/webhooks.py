"""Webhook endpoints, their secrets, and the deliveries sent to them (scope `webhooks`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status

from app.core.auth import WebhooksKey
from app.core.deps import AppSettings, Session
from app.core.errors import problem_responses
from app.core.idempotency import Idempotent, SealedIdempotent
from app.core.pagination import Page, PageParams, build_page, page_params
from app.routers.base import api_router
from app.routers.common import IfMatch, with_etag
from app.schemas.common import Instant
from app.schemas.webhooks import (
    DeliveryStatus,
    EventTypeName,
    RecoverResult,
    WebhookAttemptRead,
    WebhookDeliveryDetail,
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
    WebhookSecret,
)
from app.services import webhooks as service

router = api_router(prefix="/v1", tags=["webhooks"])

ENDPOINTS = "/webhook-endpoints"


@router.post(
    ENDPOINTS,
    status_code=status.HTTP_201_CREATED,
    operation_id="create_webhook_endpoint",
    summary="Create a webhook endpoint",
    dependencies=[SealedIdempotent],
    responses=problem_responses(409),
)
async def create_webhook_endpoint(
    body: WebhookEndpointCreate,
    response: Response,
    principal: WebhooksKey,
    session: Session,
    settings: AppSettings,
) -> WebhookEndpointCreated:
    """Register a URL to receive signed event deliveries. The response carries the signing
    secret; a URL on a private, loopback or link-local address is refused (422)."""
    endpoint, secret = await service.create(session, principal, settings, body)
    with_etag(response, endpoint)
    response.headers["Location"] = f"/v1/webhook-endpoints/{endpoint.id}"
    read = WebhookEndpointRead.model_validate(endpoint).model_dump()
    return WebhookEndpointCreated(**read, secret=secret)


@router.get(ENDPOINTS, operation_id="list_webhook_endpoints", summary="List webhook endpoints")
async def list_webhook_endpoints(
    request: Request,
    response: Response,
    principal: WebhooksKey,
    session: Session,
    params: PageParams = Depends(page_params),
    enabled: Annotated[bool | None, Query(description="Only enabled or disabled ones.")] = None,
    updated_since: Annotated[
        Instant | None, Query(description="Only endpoints changed at or after this time.")
    ] = None,
) -> Page[WebhookEndpointRead]:
    """Webhook endpoints, newest first."""
    rows = await service.list_endpoints(
        session, principal.tenant_id, params, enabled=enabled, updated_since=updated_since
    )
    items = [WebhookEndpointRead.model_validate(e) for e in rows]
    return build_page(rows, params, items, request, response)


@router.get(
    ENDPOINTS + "/{endpoint_id}",
    operation_id="get_webhook_endpoint",
    summary="Get a webhook endpoint",
    responses=problem_responses(404),
)
async def get_webhook_endpoint(
    endpoint_id: uuid.UUID, response: Response, principal: WebhooksKey, session: Session
) -> WebhookEndpointRead:
    """One endpoint, with an `ETag` to send back as `If-Match` when updating."""
    endpoint = await service.get(session, principal.tenant_id, endpoint_id)
    with_etag(response, endpoint)
    return WebhookEndpointRead.model_validate(endpoint)


@router.patch(
    ENDPOINTS + "/{endpoint_id}",
    operation_id="update_webhook_endpoint",
    summary="Update a webhook endpoint",
    responses=problem_responses(404, 409, 412),
)
async def update_webhook_endpoint(
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
    response: Response,
    principal: WebhooksKey,
    session: Session,
    settings: AppSettings,
    if_match: IfMatch = None,
) -> WebhookEndpointRead:
    """Change the fields you send. Disabling fails its queued deliveries; enabling clears
    `disabled_reason` (resend failed deliveries with `recover`)."""
    endpoint = await service.get_for_write(session, principal.tenant_id, endpoint_id, if_match)
    endpoint = await service.update(session, principal, settings, endpoint, body)
    with_etag(response, endpoint)
    return WebhookEndpointRead.model_validate(endpoint)


@router.delete(
    ENDPOINTS + "/{endpoint_id}",
    operation_id="delete_webhook_endpoint",
    summary="Delete a webhook endpoint",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 412),
)
async def delete_webhook_endpoint(
    endpoint_id: uuid.UUID, principal: WebhooksKey, session: Session, if_match: IfMatch = None
) -> Response:
    """Delete the endpoint together with its deliveries and their attempts."""
    endpoint = await service.get_for_write(session, principal.tenant_id, endpoint_id, if_match)
    await service.delete(session, endpoint)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    ENDPOINTS + "/{endpoint_id}/secret",
    operation_id="get_webhook_endpoint_secret",
    summary="Get the signing secret",
    responses=problem_responses(404),
)
async def get_webhook_endpoint_secret(
    endpoint_id: uuid.UUID, principal: WebhooksKey, session: Session, settings: AppSettings
) -> WebhookSecret:
    """The secret that signs this endpoint's deliveries (`whsec_…`)."""
    endpoint = await service.get(session, principal.tenant_id, endpoint_id)
    return service.get_secret(settings.keyring, endpoint)


@router.post(
    ENDPOINTS + "/{endpoint_id}/rotate-secret",
    operation_id="rotate_webhook_endpoint_secret",
    summary="Rotate the signing secret",
    dependencies=[SealedIdempotent],
    responses=problem_responses(404, 409),
)
async def rotate_webhook_endpoint_secret(
    endpoint_id: uuid.UUID, principal: WebhooksKey, session: Session, settings: AppSettings
) -> WebhookSecret:
    """Issue a new secret. For 24 hours deliveries carry two signatures, one per secret,
    so receivers can switch without losing any."""
    endpoint = await service.get(session, principal.tenant_id, endpoint_id, for_update=True)
    return await service.rotate_secret(session, settings.keyring, endpoint)


@router.post(
    ENDPOINTS + "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="test_webhook_endpoint",
    summary="Send a test event",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def test_webhook_endpoint(
    endpoint_id: uuid.UUID, response: Response, principal: WebhooksKey, session: Session
) -> WebhookDeliveryRead:
    """Queue a `webhook.test` event for this endpoint only; follow it at `Location`."""
    endpoint = await service.get(session, principal.tenant_id, endpoint_id)
    delivery = await service.send_test(session, principal, endpoint)
    response.headers["Location"] = f"/v1/webhook-deliveries/{delivery.id}"
    return WebhookDeliveryRead.model_validate(delivery)


@router.get(
    ENDPOINTS + "/{endpoint_id}/deliveries",
    operation_id="list_webhook_deliveries",
    summary="List an endpoint's deliveries",
    responses=problem_responses(404),
)
async def list_webhook_deliveries(
    endpoint_id: uuid.UUID,
    request: Request,
    response: Response,
    principal: WebhooksKey,
    session: Session,
    params: PageParams = Depends(page_params),
    status: Annotated[DeliveryStatus | None, Query()] = None,
    event_type: Annotated[EventTypeName | None, Query()] = None,
) -> Page[WebhookDeliveryRead]:
    """Deliveries to this endpoint, newest first."""
    rows = await service.list_deliveries(
        session, principal.tenant_id, endpoint_id, params, status=status, event_type=event_type
    )
    items = [WebhookDeliveryRead.model_validate(d) for d in rows]
    return build_page(rows, params, items, request, response)


@router.post(
    ENDPOINTS + "/{endpoint_id}/recover",
    operation_id="recover_webhook_endpoint",
    summary="Resend failed deliveries",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def recover_webhook_endpoint(
    endpoint_id: uuid.UUID,
    principal: WebhooksKey,
    session: Session,
    since: Annotated[Instant, Query(description="Resend failed deliveries created since.")],
) -> RecoverResult:
    """Queue again every failed delivery of this endpoint created at or after `since`, each
    with a fresh retry schedule (after an outage, or once a disabled endpoint is fixed)."""
    count = await service.recover(session, principal.tenant_id, endpoint_id, since)
    return RecoverResult(endpoint_id=endpoint_id, since=since, recovered=count)


@router.get(
    "/webhook-deliveries/{delivery_id}",
    operation_id="get_webhook_delivery",
    summary="Get a delivery with its attempts",
    responses=problem_responses(404),
)
async def get_webhook_delivery(
    delivery_id: uuid.UUID, principal: WebhooksKey, session: Session
) -> WebhookDeliveryDetail:
    """One delivery, the body it sends, and every attempt: time, duration, status code,
    the start of the response body, and the error."""
    found = await service.get_delivery(session, principal.tenant_id, delivery_id)
    attempts = await service.list_attempts(session, found.id)
    return service.delivery_detail(found, [WebhookAttemptRead.model_validate(a) for a in attempts])


@router.post(
    "/webhook-deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="retry_webhook_delivery",
    summary="Resend a delivery",
    dependencies=[Idempotent],
    responses=problem_responses(404, 409),
)
async def retry_webhook_delivery(
    delivery_id: uuid.UUID, principal: WebhooksKey, session: Session
) -> WebhookDeliveryRead:
    """Send the delivery again now, whatever its status (also after it failed for good),
    with the same `webhook-id` and a fresh retry schedule."""
    found = await service.retry_delivery(session, principal.tenant_id, delivery_id)
    return WebhookDeliveryRead.model_validate(found)
