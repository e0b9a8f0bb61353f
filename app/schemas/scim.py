"""SCIM 2.0 (RFC 7643/7644) models, from ``scim2-models``: the User resource with the
Enterprise User extension, and what the service publishes about itself."""

from __future__ import annotations

from typing import Annotated, Any

import scim2_models as scim
from pydantic import Field

SCIM_CONTENT_TYPE = "application/scim+json"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class Manager(scim.Manager):
    """The Enterprise User ``manager``: identity providers send ``value`` (the manager's
    SCIM id) alone, so ``$ref`` is optional here (RFC 7643 §8.7.1 marks it not required)."""

    ref: Annotated[scim.Reference[scim.User[Any]] | None, scim.Required.false] = Field(
        None, serialization_alias="$ref", validation_alias="$ref"
    )


class EnterpriseUser(scim.EnterpriseUser):
    manager: Manager | None = None


ScimUser = scim.User[EnterpriseUser]

# What a person holds, by SCIM attribute: the published schemas list only these, so a
# client (and scim2-tester) only sends what is kept. Others a client sends are ignored.
USER_ATTRIBUTES = {"userName", "displayName", "title", "active", "emails"}
# One address per person: its value (answered as the primary one).
EMAIL_SUB_ATTRIBUTES = {"value"}
ENTERPRISE_ATTRIBUTES = {"department", "manager"}
MANAGER_SUB_ATTRIBUTES = {"value"}
# A person always has a name and a status: published as required, so a client never
# removes them (a user created without a displayName is named by its userName, and one
# created without active is active).
ALWAYS_HELD = {"displayName", "active"}


def _trimmed(schema: scim.Schema, keep: set[str], subs: dict[str, set[str]]) -> scim.Schema:
    attributes = []
    for attribute in schema.attributes or []:
        if attribute.name not in keep:
            continue
        if attribute.name in subs:
            attribute = attribute.model_copy(
                update={
                    "sub_attributes": [
                        s for s in attribute.sub_attributes or [] if s.name in subs[attribute.name]
                    ]
                }
            )
        if attribute.name in ALWAYS_HELD:
            attribute = attribute.model_copy(update={"required": scim.Required.true})
        attributes.append(attribute)
    return schema.model_copy(update={"attributes": attributes})


def schemas() -> list[scim.Schema]:
    """``/Schemas``: the User and Enterprise User schemas, with the attributes kept."""
    user = _trimmed(scim.User.to_schema(), USER_ATTRIBUTES, {"emails": EMAIL_SUB_ATTRIBUTES})
    enterprise = _trimmed(
        EnterpriseUser.to_schema(), ENTERPRISE_ATTRIBUTES, {"manager": MANAGER_SUB_ATTRIBUTES}
    )
    return [user, enterprise]


def resource_types() -> list[scim.ResourceType]:
    return [scim.ResourceType.from_resource(ScimUser)]


MAX_COUNT = 200


def service_provider_config(base: str) -> scim.ServiceProviderConfig:
    return scim.ServiceProviderConfig(
        documentation_uri=None,
        patch=scim.Patch(supported=True),
        bulk=scim.Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=scim.Filter(supported=True, max_results=MAX_COUNT),
        change_password=scim.ChangePassword(supported=False),
        sort=scim.Sort(supported=False),
        etag=scim.ETag(supported=True),
        authentication_schemes=[
            scim.AuthenticationScheme(
                type="oauthbearertoken",
                name="API key",
                description="A tenant API key with the `scim` scope: "
                "`Authorization: Bearer cck_live_…`.",
                primary=True,
            )
        ],
    )


def dump(obj: scim.ScimObject, ctx: scim.Context, **kwargs: Any) -> dict[str, Any]:
    return obj.model_dump(scim_ctx=ctx, **kwargs)
