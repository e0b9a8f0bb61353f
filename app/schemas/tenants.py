from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from app.schemas.common import Metadata, ReadSchema, WriteSchema

Scope = Literal["read", "write", "webhooks"]
ALL_SCOPES: list[Scope] = ["read", "write", "webhooks"]


class TenantCreate(WriteSchema):
    name: str = Field(min_length=1, max_length=200, examples=["Acme Corp"])
    metadata: Metadata = Field(default_factory=dict)


class TenantRead(ReadSchema):
    id: uuid.UUID
    name: str
    metadata: dict[str, object] = Field(validation_alias="metadata_")
    created_at: datetime
    updated_at: datetime


class ApiKeyCreate(WriteSchema):
    name: str = Field(default="default", min_length=1, max_length=200, examples=["HRIS sync"])
    scopes: list[Scope] = Field(
        default_factory=lambda: list(ALL_SCOPES),
        min_length=1,
        max_length=3,
        examples=[["read", "write"]],
    )


class ApiKeyRead(ReadSchema):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    secret: str = Field(
        description="The API key itself. Shown only once: store it now.",
        examples=["cck_live_5u0Jx…"],
    )


class TenantCreated(TenantRead):
    api_key: ApiKeyCreated = Field(description="A first key with every scope; shown only once.")
