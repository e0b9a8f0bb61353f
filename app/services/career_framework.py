"""The career framework: the tenant's competencies and career tracks (ordered levels, each
with the competencies it expects).

Rules (the integrator's side: openapi.md, section "Career framework"):
- Tenant configuration: everyone in the tenant reads it (``visibility.COMPETENCIES`` /
  ``CAREER_TRACKS``); only the platform writes it (the routes take platform keys).
- A competency's name is unique in the tenant ignoring case (409 ``conflict`` naming the
  holder). Deleting a competency a goal, a piece of feedback or a track level references
  is a 409 ``in_use``: nothing is archived; remove the references first.
- Deleting a track level (a PATCH leaving it out, or the track's DELETE) that an aspiration
  or assessment version names (``track_level_id``, past versions included: they are
  history) is a 409 ``in_use`` too: keep the level (its id survives renames and moves).
- A track's levels are rows of ``career_track_levels`` with stable ids; a PATCH with
  ``levels`` replaces the list: a level sent with its ``id`` keeps it (and its row), one
  without gets a new id, the levels left out are deleted. ``position`` is the index.
- Batches create up to 500 items all or none; an error names the item
  (``/body/items/17/name``). Each item writes its own ``*.created`` event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from app.core.auth import Principal
from app.core.db import RequestDb
from app.core.errors import Conflict, FieldError, ValidationFailed
from app.core.pagination import PageParams
from app.core.rows import Shape
from app.models.alignment import Aspiration, Assessment
from app.models.base import utcnow
from app.models.career_framework import CareerTrack, CareerTrackLevel, Competency
from app.models.feedback import Feedback
from app.models.goal import Goal
from app.schemas.career_framework import (
    CareerTrackCreate,
    CareerTrackRead,
    CareerTrackUpdate,
    CompetencyCreate,
    CompetencyRead,
    CompetencyUpdate,
    LevelCreate,
    LevelWrite,
)
from app.services import events, visibility
from app.services.common import (
    Reader,
    apply_changes,
    check_external_id_free,
    check_if_match,
    external_id_taken,
    get_owned,
    in_ids,
    reject_nulls,
    touch,
)
from app.services.visibility import session_raw


class InUse(Conflict):
    """A delete of something other resources still reference."""

    code, title = "in_use", "In use"


COMPETENCY_READER = Reader(Competency, Shape(CompetencyRead), visible=visibility.COMPETENCIES)

_LEVELS_SQL = (
    ", (SELECT coalesce(jsonb_agg(jsonb_build_object('id', l.id, 'position', l.position, "
    "'name', l.name, 'description', l.description, 'expectations', l.expectations) "
    "ORDER BY l.position), '[]'::jsonb) FROM career_track_levels l "
    "WHERE l.track_id = t.id) AS levels"
)
TRACK_READER = Reader(
    CareerTrack,
    Shape(CareerTrackRead, levels=lambda row: row["levels"]),
    extra=_LEVELS_SQL,
    visible=visibility.CAREER_TRACKS,
)


async def _reread_many(
    session: AsyncSession, reader: Reader, ids: Sequence[uuid.UUID]
) -> list[dict[str, Any]]:
    """Rows as the reads show them, in the order of ``ids``: one statement after a flush."""
    await session.flush()
    rows = await (await session_raw(session)).fetch(
        reader.select + "t.id = ANY($1::uuid[])", list(ids)
    )
    by_id = {row["id"]: row for row in rows}
    return [reader.shape(by_id[ident]) for ident in ids]


async def _emit(
    session: AsyncSession,
    principal: Principal,
    type: str,
    subject_type: str,
    subject_id: uuid.UUID,
    data: dict[str, Any],
) -> None:
    await events.record(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type=subject_type,
        subject_id=subject_id,
        data=data,
        actor=principal,
    )


# Competencies: reading -------------------------------------------------------------------


async def fetch_competency_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    category: str | None = None,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of competencies, newest first (one more than the limit): one statement."""
    where = COMPETENCY_READER.where(principal)
    where.filter("t.category = {}", category)
    where.filter("t.updated_at >= {}", updated_since)
    return await COMPETENCY_READER.page(db, where, params)


async def read_competency(session: AsyncSession, ident: uuid.UUID) -> CompetencyRead:
    return CompetencyRead.model_validate(await COMPETENCY_READER.reread(session, ident))


# Competencies: writing -------------------------------------------------------------------


def _name_taken(name: str, holder: uuid.UUID, pointer: str) -> Conflict:
    detail = f"A competency named '{name}' already exists (names ignore case): {holder}."
    return Conflict(
        detail,
        errors=[FieldError(pointer=pointer, detail=detail, code="name_taken")],
        extra={"conflicting_id": str(holder)},
    )


async def _names_held(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    names: Sequence[str],
    exclude: uuid.UUID | None = None,
) -> dict[str, uuid.UUID]:
    """Which of ``names`` (lower-cased) the tenant's competencies hold, and by whom."""
    lowered = func.lower(col(Competency.name))
    stmt = select(lowered, col(Competency.id)).where(
        col(Competency.tenant_id) == tenant_id,
        lowered == sa.any_(sa.bindparam(None, [n.lower() for n in names], type_=ARRAY(sa.Text()))),
    )
    if exclude is not None:
        stmt = stmt.where(col(Competency.id) != exclude)
    return {name: ident for name, ident in (await session.execute(stmt)).all()}


async def _check_new_competencies(
    session: AsyncSession, tenant_id: uuid.UUID, bodies: Sequence[CompetencyCreate], prefix: str
) -> None:
    """Names free (in the tenant and among ``bodies``), external ids too; the error names
    the item (``{prefix}/name``, ``prefix`` with the index for a batch)."""

    def at(index: int) -> str:
        return prefix if prefix == "/body" else f"{prefix}/{index}"

    held = await _names_held(session, tenant_id, [b.name for b in bodies])
    first: dict[str, int] = {}
    for index, body in enumerate(bodies):
        key = body.name.lower()
        if key in held:
            raise _name_taken(body.name, held[key], f"{at(index)}/name")
        if key in first:
            detail = f"Items {first[key]} and {index} have the same name, '{body.name}'."
            raise ValidationFailed.field(f"{at(index)}/name", detail, "duplicate")
        first[key] = index
    externals: dict[str, int] = {}
    for index, body in enumerate(bodies):
        if body.external_id is None:
            continue
        if body.external_id in externals:
            detail = f"Items {externals[body.external_id]} and {index} have the same external_id."
            raise ValidationFailed.field(f"{at(index)}/external_id", detail, "duplicate")
        externals[body.external_id] = index
    await _check_external_ids_free(session, Competency, tenant_id, externals)


async def _check_external_ids_free(
    session: AsyncSession, model: Any, tenant_id: uuid.UUID, externals: dict[str, int]
) -> None:
    """409 for the first external id (in input order) another row already holds."""
    if not externals:
        return
    if len(externals) == 1:
        await check_external_id_free(session, model, tenant_id, next(iter(externals)))
        return
    rows = await session.execute(
        sa.select(model.external_id, model.id).where(
            model.tenant_id == tenant_id,
            model.external_id
            == sa.any_(sa.bindparam(None, list(externals), type_=ARRAY(sa.Text()))),
        )
    )
    holders: dict[str, uuid.UUID] = dict(rows.tuples().all())
    for external_id in externals:
        if external_id in holders:
            raise external_id_taken(model, external_id, holders[external_id])


def _new_competency(tenant_id: uuid.UUID, body: CompetencyCreate) -> Competency:
    competency = Competency(
        tenant_id=tenant_id, metadata_=body.metadata, **body.model_dump(exclude={"metadata"})
    )
    competency.updated_at = competency.created_at
    return competency


async def create_competency(
    session: AsyncSession, principal: Principal, body: CompetencyCreate
) -> CompetencyRead:
    await _check_new_competencies(session, principal.tenant_id, [body], "/body")
    competency = _new_competency(principal.tenant_id, body)
    session.add(competency)
    data = await read_competency(session, competency.id)
    await _emit(
        session,
        principal,
        "competency.created",
        "competency",
        competency.id,
        data.model_dump(mode="json"),
    )
    return data


async def create_competencies(
    session: AsyncSession, principal: Principal, bodies: Sequence[CompetencyCreate]
) -> list[dict[str, Any]]:
    """All or none, in input order; errors name the item (``/body/items/<index>/…``)."""
    await _check_new_competencies(session, principal.tenant_id, bodies, "/body/items")
    rows = [_new_competency(principal.tenant_id, body) for body in bodies]
    session.add_all(rows)
    created = await _reread_many(session, COMPETENCY_READER, [row.id for row in rows])
    for row, data in zip(rows, created, strict=True):
        await _emit(
            session,
            principal,
            "competency.created",
            "competency",
            row.id,
            CompetencyRead.model_validate(data).model_dump(mode="json"),
        )
    return created


async def get_competency_for_write(
    session: AsyncSession, principal: Principal, competency_id: uuid.UUID, if_match: str | None
) -> Competency:
    """The competency for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE`` and checked
    against ``If-Match`` (412)."""
    competency = await get_owned(
        session, Competency, principal.tenant_id, competency_id, for_update=True
    )
    return check_if_match(if_match, competency)


async def update_competency(
    session: AsyncSession, principal: Principal, competency: Competency, body: CompetencyUpdate
) -> CompetencyRead:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, CompetencyUpdate.non_null)
    if "name" in changes and changes["name"].lower() != competency.name.lower():
        held = await _names_held(
            session, principal.tenant_id, [changes["name"]], exclude=competency.id
        )
        if held:
            raise _name_taken(changes["name"], next(iter(held.values())), "/body/name")
    if "external_id" in changes:
        await check_external_id_free(
            session, Competency, principal.tenant_id, changes["external_id"], exclude=competency.id
        )
    changed = apply_changes(competency, changes)
    data = await read_competency(session, competency.id)
    if changed:
        await _emit(
            session,
            principal,
            "competency.updated",
            "competency",
            competency.id,
            data.model_dump(mode="json"),
        )
    return data


async def delete_competency(
    session: AsyncSession, principal: Principal, competency: Competency
) -> None:
    """409 ``in_use`` while a goal, a piece of feedback or a track level references it."""
    ident = competency.id
    tenant = competency.tenant_id
    ids = sa.bindparam(None, [ident], type_=ARRAY(sa.Uuid()))
    expects = sa.cast(sa.literal(f'[{{"competency_id": "{ident}"}}]'), JSONB)
    users = (
        (
            "goals",
            sa.exists().where(
                col(Goal.tenant_id) == tenant, col(Goal.competency_ids).op("@>")(ids)
            ),
        ),
        (
            "feedback",
            sa.exists().where(
                col(Feedback.tenant_id) == tenant, col(Feedback.competency_ids).op("@>")(ids)
            ),
        ),
        (
            "career track levels",
            sa.exists().where(
                col(CareerTrackLevel.tenant_id) == tenant,
                col(CareerTrackLevel.expectations).op("@>")(expects),
            ),
        ),
    )
    found = (await session.execute(sa.select(*(check for _, check in users)))).one()
    using = [name for (name, _), hit in zip(users, found, strict=True) if hit]
    if using:
        raise InUse(
            f"Competency {ident} is referenced by {', '.join(using)}: remove it from them first.",
            extra={"referenced_by": using},
        )
    data = CompetencyRead.model_validate(competency).model_dump(mode="json")
    await _emit(session, principal, "competency.deleted", "competency", ident, data)
    await session.delete(competency)
    await session.flush()


async def check_competencies(
    session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID], pointer: str
) -> list[uuid.UUID]:
    """Each id a competency of the tenant (422 on ``pointer/<index>`` otherwise); the ids
    without duplicates, in order. One query."""
    if not ids:
        return []
    found = set(
        (
            await session.execute(
                select(col(Competency.id)).where(
                    col(Competency.tenant_id) == tenant_id, in_ids(col(Competency.id), ids)
                )
            )
        ).scalars()
    )
    for index, ident in enumerate(ids):
        if ident not in found:
            raise ValidationFailed.field(
                f"{pointer}/{index}",
                f"No competency with id {ident} in this tenant.",
                "unknown_reference",
            )
    return list(dict.fromkeys(ids))


# Career tracks: reading ------------------------------------------------------------------


async def fetch_track_page(
    db: RequestDb,
    principal: Principal,
    params: PageParams,
    *,
    updated_since: datetime | None = None,
) -> list[asyncpg.Record]:
    """A page of tracks with their levels, newest first (one more than the limit)."""
    where = TRACK_READER.where(principal)
    where.filter("t.updated_at >= {}", updated_since)
    return await TRACK_READER.page(db, where, params)


async def read_track(session: AsyncSession, ident: uuid.UUID) -> CareerTrackRead:
    return CareerTrackRead.model_validate(await TRACK_READER.reread(session, ident))


# Career tracks: writing ------------------------------------------------------------------


async def _check_expectations(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    tracks: Sequence[tuple[str, Sequence[LevelCreate]]],
) -> None:
    """Every expectation's competency is the tenant's (422 naming it otherwise): one query
    for all the levels of all the ``(pointer prefix, levels)`` given."""
    wanted = {e.competency_id for _, levels in tracks for lv in levels for e in lv.expectations}
    if not wanted:
        return
    found = set(
        (
            await session.execute(
                select(col(Competency.id)).where(
                    col(Competency.tenant_id) == tenant_id,
                    in_ids(col(Competency.id), list(wanted)),
                )
            )
        ).scalars()
    )
    for prefix, levels in tracks:
        for i, level in enumerate(levels):
            for j, expectation in enumerate(level.expectations):
                if expectation.competency_id not in found:
                    raise ValidationFailed.field(
                        f"{prefix}/levels/{i}/expectations/{j}/competency_id",
                        f"No competency with id {expectation.competency_id} in this tenant.",
                        "unknown_reference",
                    )


def _expectations(level: LevelCreate) -> list[dict[str, Any]]:
    return [
        {"competency_id": str(e.competency_id), "expectation": e.expectation}
        for e in level.expectations
    ]


def _new_levels(track: CareerTrack, levels: Sequence[LevelCreate]) -> list[Any]:
    rows = []
    for index, level in enumerate(levels):
        rows.append(
            CareerTrackLevel(
                tenant_id=track.tenant_id,
                track_id=track.id,
                position=index,
                name=level.name,
                description=level.description,
                expectations=_expectations(level),
                created_at=track.created_at,
                updated_at=track.created_at,
            )
        )
    return rows


def _new_track(tenant_id: uuid.UUID, body: CareerTrackCreate) -> CareerTrack:
    track = CareerTrack(
        tenant_id=tenant_id,
        metadata_=body.metadata,
        **body.model_dump(exclude={"metadata", "levels"}),
    )
    track.updated_at = track.created_at
    return track


async def create_track(
    session: AsyncSession, principal: Principal, body: CareerTrackCreate
) -> CareerTrackRead:
    await check_external_id_free(session, CareerTrack, principal.tenant_id, body.external_id)
    await _check_expectations(session, principal.tenant_id, [("/body", body.levels)])
    track = _new_track(principal.tenant_id, body)
    session.add(track)
    await session.flush()
    session.add_all(_new_levels(track, body.levels))
    data = await read_track(session, track.id)
    await _emit(
        session,
        principal,
        "career_track.created",
        "career_track",
        track.id,
        data.model_dump(mode="json"),
    )
    return data


async def create_tracks(
    session: AsyncSession, principal: Principal, bodies: Sequence[CareerTrackCreate]
) -> list[dict[str, Any]]:
    """All or none, in input order; errors name the item (``/body/items/<index>/…``)."""
    tenant_id = principal.tenant_id
    externals: dict[str, int] = {}
    for index, body in enumerate(bodies):
        if body.external_id is None:
            continue
        if body.external_id in externals:
            detail = f"Items {externals[body.external_id]} and {index} have the same external_id."
            raise ValidationFailed.field(f"/body/items/{index}/external_id", detail, "duplicate")
        externals[body.external_id] = index
    await _check_external_ids_free(session, CareerTrack, tenant_id, externals)
    await _check_expectations(
        session, tenant_id, [(f"/body/items/{i}", body.levels) for i, body in enumerate(bodies)]
    )
    tracks = [_new_track(tenant_id, body) for body in bodies]
    session.add_all(tracks)
    await session.flush()
    for track, body in zip(tracks, bodies, strict=True):
        session.add_all(_new_levels(track, body.levels))
    created = await _reread_many(session, TRACK_READER, [track.id for track in tracks])
    for track, data in zip(tracks, created, strict=True):
        await _emit(
            session,
            principal,
            "career_track.created",
            "career_track",
            track.id,
            CareerTrackRead.model_validate(data).model_dump(mode="json"),
        )
    return created


async def get_track_for_write(
    session: AsyncSession, principal: Principal, track_id: uuid.UUID, if_match: str | None
) -> CareerTrack:
    """The track for a PATCH or DELETE: loaded (404), locked ``FOR UPDATE`` and checked
    against ``If-Match`` (412)."""
    track = await get_owned(session, CareerTrack, principal.tenant_id, track_id, for_update=True)
    return check_if_match(if_match, track)


async def _replace_levels(
    session: AsyncSession, track: CareerTrack, levels: Sequence[LevelWrite]
) -> bool:
    """Levels sent with an ``id`` keep their row; new ones get one; the rest go. Whether
    anything changed."""
    current = {
        level.id: level
        for level in (
            await session.execute(
                select(CareerTrackLevel).where(col(CareerTrackLevel.track_id) == track.id)
            )
        ).scalars()
    }
    kept: set[uuid.UUID] = set()
    changed = False
    now = utcnow()
    for index, level in enumerate(levels):
        fields: dict[str, Any] = {
            "position": index,
            "name": level.name,
            "description": level.description,
            "expectations": _expectations(level),
        }
        if level.id is None:
            session.add(
                CareerTrackLevel(
                    tenant_id=track.tenant_id,
                    track_id=track.id,
                    created_at=now,
                    updated_at=now,
                    **fields,
                )
            )
            changed = True
            continue
        row = current.get(level.id)
        if row is None or level.id in kept:
            problem = "is not a level of this track" if row is None else "is sent twice"
            raise ValidationFailed.field(
                f"/body/levels/{index}/id", f"Level {level.id} {problem}.", "unknown_reference"
            )
        kept.add(level.id)
        changed |= apply_changes(row, fields)
    gone = [ident for ident in current if ident not in kept]
    await check_levels_unused(session, track.tenant_id, gone)
    for ident in gone:
        await session.delete(current[ident])
        changed = True
    return changed


async def update_track(
    session: AsyncSession, principal: Principal, track: CareerTrack, body: CareerTrackUpdate
) -> CareerTrackRead:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    reject_nulls(changes, CareerTrackUpdate.non_null)
    changes.pop("levels", None)
    if "external_id" in changes:
        await check_external_id_free(
            session, CareerTrack, principal.tenant_id, changes["external_id"], exclude=track.id
        )
    levels_changed = False
    if body.levels is not None:
        await _check_expectations(session, principal.tenant_id, [("/body", body.levels)])
        levels_changed = await _replace_levels(session, track, body.levels)
    changed = apply_changes(track, changes)
    if levels_changed and not changed:
        touch(track)
    data = await read_track(session, track.id)
    if changed or levels_changed:
        await _emit(
            session,
            principal,
            "career_track.updated",
            "career_track",
            track.id,
            data.model_dump(mode="json"),
        )
    return data


async def check_levels_unused(
    session: AsyncSession, tenant_id: uuid.UUID, level_ids: Sequence[uuid.UUID]
) -> None:
    """409 ``in_use`` while an aspiration or assessment version (current or past: versions
    are history and never change) names one of ``level_ids``. One query."""
    if not level_ids:
        return
    users = (
        ("aspirations", Aspiration),
        ("assessments", Assessment),
    )
    checks = [
        sa.exists().where(
            col(model.tenant_id) == tenant_id, in_ids(col(model.track_level_id), level_ids)
        )
        for _, model in users
    ]
    found = (await session.execute(sa.select(*checks))).one()
    using = [name for (name, _), hit in zip(users, found, strict=True) if hit]
    if using:
        named = ", ".join(str(ident) for ident in level_ids)
        raise InUse(
            f"Career track level(s) {named} are named by {' and '.join(using)} (versions are "
            "history and keep their level): keep the level (rename it, move it) instead.",
            extra={"referenced_by": using},
        )


async def delete_track(session: AsyncSession, principal: Principal, track: CareerTrack) -> None:
    """The track and its levels; 409 ``in_use`` while a version names one of its levels."""
    level_ids = (
        await session.execute(
            select(col(CareerTrackLevel.id)).where(col(CareerTrackLevel.track_id) == track.id)
        )
    ).scalars()
    await check_levels_unused(session, track.tenant_id, list(level_ids))
    data = (await read_track(session, track.id)).model_dump(mode="json")
    await _emit(session, principal, "career_track.deleted", "career_track", track.id, data)
    await session.delete(track)
    await session.flush()
