"""SCIM 2.0 Users (RFC 7643/7644): the people of ``/v1/people`` as SCIM sees them.

A SCIM user is a person: its ``id`` is the person's id, ``externalId`` their
``external_id``. Writes go through the people service (``people.create`` and
``people.update_fields``), so they record ``person.created`` / ``person.updated`` and run
whatever else an update of a person runs. A SCIM ``DELETE`` deactivates the person and
marks them ``scim_deleted_at``: while they stay inactive SCIM answers 404 for them
(RFC 7644 §3.6); ``/v1/people`` keeps showing them, inactive.
"""

from __future__ import annotations

import uuid
from typing import Any

import scim2_models as scim
import sqlalchemy as sa
from pydantic import ValidationError
from scim2_models.path.expressions import (
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.auth import Principal
from app.core.rows import etag_for
from app.models.base import utcnow
from app.models.person import Person
from app.schemas.people import PersonCreate
from app.schemas.scim import MAX_COUNT, EnterpriseUser, Manager, ScimUser
from app.services import people

USER_NAME_MAX = 256
DEPARTMENT_MAX = 200


def _location(base: str, person_id: uuid.UUID) -> str:
    return f"{base}/Users/{person_id}"


def to_user(person: Person, base: str) -> Any:
    """The SCIM user of ``person``: what the published schemas list, nothing more (the
    manager by ``value`` alone, one email by its ``value``)."""
    user = ScimUser(
        id=str(person.id),
        external_id=person.external_id,
        user_name=person.user_name or person.email or str(person.id),
        display_name=person.name,
        title=person.title,
        active=person.status == "active",
        # Built without validation: an address /v1/people took (``ada@host.test``) may be
        # one the SCIM model's email check refuses (special-use domains).
        emails=[scim.Email.model_construct(value=person.email)] if person.email else None,
        meta=scim.Meta(
            resource_type="User",
            created=person.created_at,
            last_modified=person.updated_at,
            location=_location(base, person.id),
            version="W/" + etag_for(person.id, person.updated_at),
        ),
    )
    if person.department is not None or person.manager_id is not None:
        manager = None
        if person.manager_id is not None:
            manager = Manager(value=str(person.manager_id))
        user[EnterpriseUser] = EnterpriseUser(department=person.department, manager=manager)
    return user


def _visible(tenant_id: uuid.UUID) -> list[Any]:
    """A SCIM-deleted person who stays inactive is gone for SCIM."""
    return [
        col(Person.tenant_id) == tenant_id,
        sa.not_(
            sa.and_(col(Person.scim_deleted_at).is_not(None), col(Person.status) == "inactive")
        ),
    ]


def _person_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise scim.NotFoundException(detail=f"No user with id {raw[:100]}.") from None


async def get(
    session: AsyncSession, principal: Principal, raw_id: str, *, for_update: bool = False
) -> Person:
    person_id = _person_id(raw_id)
    query = select(Person).where(col(Person.id) == person_id, *_visible(principal.tenant_id))
    if for_update:
        query = query.with_for_update()
    person = await session.scalar(query)
    if person is None:
        raise scim.NotFoundException(detail=f"No user with id {person_id}.")
    return person


async def get_for_write(
    session: AsyncSession, principal: Principal, raw_id: str, if_match: str | None
) -> Person:
    """The user for a PUT, PATCH or DELETE: loaded (404), locked ``FOR UPDATE`` and
    checked against ``If-Match`` (412)."""
    person = await get(session, principal, raw_id, for_update=True)
    if if_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
        if "*" not in tags and etag_for(person.id, person.updated_at) not in tags:
            raise scim.PreconditionFailedException(
                detail="The user changed since you read it (If-Match does not match its "
                "version); fetch it again and retry."
            )
    return person


# -------------------------------------------------------------------------------- lists

_FILTERABLE = {
    "username": "user_name",
    "externalid": "external_id",
    "emails.value": "email",
    "emails": "email",
    "active": "active",
}


def _terms(node: FilterNode) -> list[Comparison]:
    """The ``eq`` comparisons an ``and`` of them is made of; anything else is refused."""
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        return [term for child in node.terms for term in _terms(child)]
    if isinstance(node, Comparison) and node.op == CompareOperator.eq:
        return [node]
    raise scim.InvalidFilterException(
        detail="Only `eq` comparisons on userName, externalId, emails.value and active, "
        "joined by `and`, are supported."
    )


def _condition(term: Comparison) -> Any:
    path = term.attr_path
    if path.uri is not None and not path.uri.lower().endswith(":user"):
        raise scim.InvalidFilterException(detail=f"Cannot filter on {path.uri}.")
    name = path.attr.lower() + (f".{path.sub_attr.lower()}" if path.sub_attr else "")
    column = _FILTERABLE.get(name)
    value = term.value
    if column is None:
        raise scim.InvalidFilterException(
            detail=f"Cannot filter on {name}: only userName, externalId, emails.value and active."
        )
    if column == "active":
        if not isinstance(value, bool):
            raise scim.InvalidFilterException(detail="active compares with true or false.")
        return col(Person.status) == ("active" if value else "inactive")
    if not isinstance(value, str):
        raise scim.InvalidFilterException(detail=f"{name} compares with a string.")
    if column == "user_name":
        shown = sa.func.coalesce(
            col(Person.user_name), col(Person.email), sa.cast(col(Person.id), sa.Text)
        )
        return sa.func.lower(shown) == value.lower()
    if column == "email":
        return sa.func.lower(col(Person.email)) == value.lower()
    # externalId is caseExact (RFC 7643 §3.1).
    return col(Person.external_id) == value


def parse_filter(text: str) -> list[Any]:
    try:
        parsed = scim.ScimFilter[ScimUser](text)
    except scim.SCIMException as exc:
        raise scim.InvalidFilterException(detail=str(exc)) from None
    except ValidationError as exc:
        raise scim.InvalidFilterException(detail=str(exc.errors()[0]["msg"])) from None
    return [_condition(term) for term in _terms(parsed.ast)]


async def list_users(
    session: AsyncSession,
    principal: Principal,
    filter_text: str | None,
    start_index: int,
    count: int,
) -> tuple[int, list[Person]]:
    """``(totalResults, the page)``, oldest first (a stable order for ``startIndex``)."""
    conditions = [*_visible(principal.tenant_id)]
    if filter_text:
        conditions += parse_filter(filter_text)
    total = await session.scalar(select(sa.func.count()).select_from(Person).where(*conditions))
    rows: list[Person] = []
    if count > 0:
        found = await session.scalars(
            select(Person)
            .where(*conditions)
            .order_by(col(Person.created_at), col(Person.id))
            .offset(start_index - 1)
            .limit(min(count, MAX_COUNT))
        )
        rows = list(found.all())
    return int(total or 0), rows


# ------------------------------------------------------------------------------- writes


def _invalid(detail: str) -> scim.InvalidValueException:
    return scim.InvalidValueException(detail=detail)


def _name_of(user: Any) -> str | None:
    if user.display_name:
        return str(user.display_name)
    name = user.name
    if name is not None:
        if name.formatted:
            return str(name.formatted)
        parts = [p for p in (name.given_name, name.family_name) if p]
        if parts:
            return " ".join(parts)
    return None


def _email_of(user: Any) -> str | None:
    emails = user.emails or []
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    return None if chosen is None or chosen.value is None else str(chosen.value)


def _manager_of(user: Any) -> uuid.UUID | None:
    extension = user[EnterpriseUser]
    if extension is None or extension.manager is None or not extension.manager.value:
        return None
    try:
        return uuid.UUID(str(extension.manager.value))
    except ValueError:
        raise _invalid("manager.value must be the SCIM id of a user of this service.") from None


def fields_of(user: Any, *, name: str | None = None) -> dict[str, Any]:
    """The person's columns a SCIM user sets (a full replacement: what it leaves out is
    cleared, as RFC 7644 §3.5.1 says of PUT), checked against the people API's limits."""
    user_name = user.user_name
    if not user_name or not str(user_name).strip():
        raise _invalid("userName is required.")
    if len(user_name) > USER_NAME_MAX:
        raise _invalid(f"userName is at most {USER_NAME_MAX} characters.")
    extension = user[EnterpriseUser]
    department = None if extension is None else extension.department
    if department is not None and len(department) > DEPARTMENT_MAX:
        raise _invalid(f"department is at most {DEPARTMENT_MAX} characters.")
    checked = {
        "name": name or _name_of(user) or str(user_name),
        "email": _email_of(user),
        "title": user.title,
        "manager_id": _manager_of(user),
        "timezone": user.timezone or "UTC",
        "status": "inactive" if user.active is False else "active",
        "external_id": user.external_id,
    }
    try:
        body = PersonCreate.model_validate(checked)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _invalid(f"{where}: {first['msg']}") from None
    fields = body.model_dump(exclude={"metadata"})
    return {**fields, "user_name": str(user_name), "department": department}


async def _check_user_name_free(
    session: AsyncSession, tenant_id: uuid.UUID, user_name: str, exclude: uuid.UUID | None
) -> None:
    """userName is unique per tenant, case-insensitively (caseExact false)."""
    query = select(col(Person.id)).where(
        col(Person.tenant_id) == tenant_id,
        sa.func.lower(col(Person.user_name)) == user_name.lower(),
    )
    if exclude is not None:
        query = query.where(col(Person.id) != exclude)
    if await session.scalar(query.limit(1)) is not None:
        raise scim.UniquenessException(detail=f"userName {user_name[:100]!r} is taken.")


async def _check_external_id_free(
    session: AsyncSession, tenant_id: uuid.UUID, external_id: str | None, exclude: uuid.UUID | None
) -> None:
    if external_id is None:
        return
    query = select(col(Person.id)).where(
        col(Person.tenant_id) == tenant_id, col(Person.external_id) == external_id
    )
    if exclude is not None:
        query = query.where(col(Person.id) != exclude)
    if await session.scalar(query.limit(1)) is not None:
        raise scim.UniquenessException(detail=f"externalId {external_id[:100]!r} is taken.")


async def _deleted_match(
    session: AsyncSession, tenant_id: uuid.UUID, fields: dict[str, Any]
) -> Person | None:
    """The person deleted through SCIM (still hidden from SCIM) whose ``externalId`` the
    POSTed user carries, locked: provisioning them again reactivates them. (Their
    ``userName`` was freed by the delete, so the external id is what identifies them.)"""
    if fields["external_id"] is None:
        return None
    return await session.scalar(
        select(Person)
        .where(
            col(Person.tenant_id) == tenant_id,
            col(Person.external_id) == fields["external_id"],
            col(Person.scim_deleted_at).is_not(None),
            col(Person.status) == "inactive",
        )
        .with_for_update()
    )


async def create(session: AsyncSession, principal: Principal, user: Any) -> Person:
    """POST: a new person, or (RFC 7644 §3.3 leaves it to the service) the person deleted
    through SCIM with this ``externalId``, reactivated with the user's
    attributes as a replacement (``person.updated``)."""
    fields = fields_of(user)
    deleted = await _deleted_match(session, principal.tenant_id, fields)
    if deleted is not None:
        if user.timezone is None:
            fields["timezone"] = deleted.timezone
        return await _write(session, principal, deleted, {**fields, "scim_deleted_at": None})
    await _check_user_name_free(session, principal.tenant_id, fields["user_name"], None)
    await _check_external_id_free(session, principal.tenant_id, fields["external_id"], None)
    extra = {"user_name": fields.pop("user_name"), "department": fields.pop("department")}
    return await people.create(session, principal, PersonCreate(**fields), extra=extra)


async def _write(
    session: AsyncSession, principal: Principal, person: Person, fields: dict[str, Any]
) -> Person:
    await _check_user_name_free(session, principal.tenant_id, fields["user_name"], person.id)
    await _check_external_id_free(session, principal.tenant_id, fields["external_id"], person.id)
    return await people.update_fields(session, principal, person, fields)


async def replace(session: AsyncSession, principal: Principal, person: Person, user: Any) -> Person:
    """PUT: the user as sent. ``timezone`` is kept when the user leaves it out (the SCIM
    schemas this service publishes do not list it)."""
    fields = fields_of(user)
    if user.timezone is None:
        fields["timezone"] = person.timezone
    return await _write(session, principal, person, fields)


async def patch(
    session: AsyncSession, principal: Principal, person: Person, operations: Any, base: str
) -> Person:
    """PATCH: the operations applied to the user as it stands, then written as a PUT."""
    before = to_user(person, base)
    after = before.model_copy(deep=True)
    operations.patch(after)
    name = None
    if after.display_name != before.display_name and after.display_name:
        name = str(after.display_name)
    elif after.name != before.name:
        name = _name_of(after.model_copy(update={"display_name": None}))
    else:
        name = person.name
    fields = fields_of(after, name=name)
    if after.timezone is None:
        fields["timezone"] = person.timezone
    if after.external_id is None and before.external_id is not None:
        fields["external_id"] = None
    return await _write(session, principal, person, fields)


async def delete(session: AsyncSession, principal: Principal, person: Person) -> None:
    """Deactivate the person; SCIM answers 404 for them from now on (RFC 7644 §3.6). The
    userName is freed, so the identity provider may provision it again."""
    await people.update_fields(
        session,
        principal,
        person,
        {"status": "inactive", "scim_deleted_at": utcnow(), "user_name": None},
    )
