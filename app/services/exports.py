"""Per-person exports (GDPR article 15): the job, the worker that writes the document, the
download and the expiry.

``POST /v1/people/{id}/exports`` queues a job (``pending``). The background scheduler's pass
claims pending jobs (``FOR UPDATE SKIP LOCKED``; a ``running`` job whose lease lapsed, its
worker gone, is taken again; a worker renews its lease as it writes chunks, and completes or
fails a job only while it still holds that lease) and writes the document into
``export_chunks``, one row per ``CHUNK_BYTES``, reading each section through a server-side
cursor: memory stays bounded whatever the person's history (``bench/export_memory.py``). The
chunks are in the database, so the document survives restarts and any process can serve it.
The download streams the chunks one at a time; 24 hours after completion the scheduler
deletes them (the job stays, its ``expires_at`` past, and the download answers 410).

What the document holds, as the person may see it (the rule is documented in openapi.md
"Exports"): their profile; the conversations they took part in (employee or facilitator)
with the agenda items and notes they see (shared ones, and their own private or sealed
ones: no one else's private note); goals and action plans they own, action items of those
plans or assigned to them; feedback they gave and received; feedback requests they made or
were asked; follow-ups assigned to them or of their conversations; their mentorships; and
the events that name them -- the subject is the person, the person acted (``Acting-Person``),
or a person column of the event's data (``PERSON_KEYS``) holds their id -- and that they may
see under the events' visibility rules (a colleague's person snapshot redacted as in
``GET /v1/events``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.core.db import RequestDb
from app.core.errors import (
    ExportInProgress,
    ExportNotReady,
    Gone,
    NotFound,
    NotPermitted,
    database_unavailable,
)
from app.core.keycache import Principal
from app.core.rows import Shape
from app.models.base import sql_value, utcnow
from app.models.export_job import ExportJob, ExportStatus
from app.schemas.exports import ExportRead
from app.services import events, people, visibility
from app.services.common import Reader
from app.services.visibility import session_raw

log = logging.getLogger(__name__)

EXPIRY = timedelta(hours=24)
LEASE = timedelta(minutes=15)
# A worker writing a long document renews its lease at most this often (when it writes a
# chunk), so a slow export is not taken again while it is being written.
RENEW_EVERY = timedelta(minutes=1)
CHUNK_BYTES = 256 * 1024
PREFETCH = 200
FORMAT = "ccapi.person_export.v1"
EXPORTED = "person.exported"

READER = Reader(ExportJob, Shape(ExportRead), visible=visibility.EXPORTS)


# Requests ----------------------------------------------------------------------------------


async def create(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> ExportJob:
    """Queue an export of ``person_id``: the platform, or the person themself; one at a time
    per person (409 while one is pending or running)."""
    # Locked: of two concurrent requests, the second sees the first's job.
    await people.get(session, principal.tenant_id, person_id, for_update=True)
    visibility.permit(
        principal, [person_id], "Only the person themself or the platform may export their data."
    )
    unfinished = await session.scalar(
        select(col(ExportJob.id)).where(
            col(ExportJob.tenant_id) == principal.tenant_id,
            col(ExportJob.person_id) == person_id,
            col(ExportJob.status).in_(("pending", "running")),
        )
    )
    if unfinished is not None:
        raise ExportInProgress(
            f"An export of this person is already queued or running ({unfinished}); "
            "wait for it to complete.",
            extra={"export_id": str(unfinished)},
        )
    job = ExportJob(
        tenant_id=principal.tenant_id,
        person_id=person_id,
        requested_by_person_id=principal.person_id,
        api_key_id=principal.api_key_id,
    )
    session.add(job)
    await session.flush()
    return job


async def download_job(db: RequestDb, principal: Principal, export_id: uuid.UUID) -> asyncpg.Record:
    """The job, if its document may be downloaded now: 404 unseen, 403 not acting as the
    person, 409 not yet, 410 expired."""
    row: asyncpg.Record = await READER.one(db, principal, export_id)
    # The document holds the person's private notes and sealed items, which no one but their
    # author ever reads: the platform downloads it only by acting as the person (a person
    # who sees the job is that person: ``EXPORTS``).
    if principal.person_id is None:
        raise NotPermitted(
            "Only the person may download their export: send Acting-Person with their id (or "
            "use their person session); it holds their private notes."
        )
    if row["status"] != "completed":
        raise ExportNotReady(
            f"The export is {row['status']}: its document can be downloaded once completed.",
            extra={"current_status": row["status"]},
        )
    if row["expires_at"] is None or row["expires_at"] <= utcnow():
        raise Gone("The export expired and its document was deleted; request a new one.")
    return row


async def stream(
    sessionmaker: async_sessionmaker[AsyncSession], export_id: uuid.UUID
) -> AsyncIterator[bytes]:
    """The document's chunks in order, one in memory at a time. Each chunk is read on a
    connection checked out for that one statement (after the request's own was returned),
    so a slow client holds no connection while it reads."""
    seq = 0
    while True:
        async with sessionmaker() as session:
            raw = await session_raw(session)
            data = await raw.fetchval(
                "SELECT data FROM export_chunks WHERE job_id = $1 AND seq = $2", export_id, seq
            )
            await session.rollback()
        if data is None:
            return
        yield bytes(data)
        seq += 1


# The worker --------------------------------------------------------------------------------

_PENDING = sql_value(ExportStatus, "pending")
_RUNNING = sql_value(ExportStatus, "running")
_CLAIM = sa.text(
    # B608: statuses are checked literals of the model
    f"""UPDATE export_jobs SET status = {_RUNNING}, started_at = :now, updated_at = :now,
        lease_expires_at = :lease
    WHERE id = (
        SELECT id FROM export_jobs
        WHERE status = {_PENDING} OR (status = {_RUNNING} AND lease_expires_at < :now)
        ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id, tenant_id, person_id, lease_expires_at"""  # nosec B608
)
# The claim's lease_expires_at is its token: a worker changes the job only while the job is
# still running under the lease it holds (it was not taken again by another worker).
_HELD = f"id = :id AND status = {_RUNNING} AND lease_expires_at = :token"
_RENEW = sa.text(
    f"UPDATE export_jobs SET lease_expires_at = :lease WHERE {_HELD} RETURNING id"  # nosec B608
)
_COMPLETE = sa.text(
    # B608: statuses are checked literals of the model
    f"""UPDATE export_jobs SET status = {sql_value(ExportStatus, "completed")},
        size_bytes = :size, lease_expires_at = NULL, completed_at = :done, expires_at = :expires,
        updated_at = :done
    WHERE {_HELD} RETURNING id"""  # nosec B608
)
_FAIL = sa.text(
    # B608: statuses are checked literals of the model
    f"""UPDATE export_jobs SET status = {sql_value(ExportStatus, "failed")},
        lease_expires_at = NULL, error = :error, updated_at = :now
    WHERE {_HELD} RETURNING id"""  # nosec B608
)


class LeaseLost(Exception):
    """The job's lease lapsed and another worker took it: this worker drops its work."""


@dataclass(frozen=True)
class Claim:
    """A job a worker holds: ``lease`` (its ``lease_expires_at``) is the token."""

    job_id: uuid.UUID
    tenant_id: uuid.UUID
    person_id: uuid.UUID
    lease: datetime


class _Lease:
    """The lease a worker holds on its job, renewed (committed, on a connection of its own)
    at most each ``RENEW_EVERY``; ``LeaseLost`` once another worker has the job."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], claim: Claim) -> None:
        self.sessionmaker, self.job_id, self.token = sessionmaker, claim.job_id, claim.lease
        self.renewed = time.monotonic()

    async def renew(self) -> None:
        if time.monotonic() - self.renewed < RENEW_EVERY.total_seconds():
            return
        lease = utcnow() + LEASE
        async with self.sessionmaker() as session:
            held = await session.scalar(
                _RENEW, {"lease": lease, "id": self.job_id, "token": self.token}
            )
            await session.commit()
        if held is None:
            raise LeaseLost(f"export {self.job_id} was taken again by another worker")
        self.token, self.renewed = lease, time.monotonic()


# Person columns of events' data (snapshots): an event names a person through these.
PERSON_KEYS = (
    "id",
    "employee_id",
    "facilitator_id",
    "owner_id",
    "assignee_id",
    "author_id",
    "giver_id",
    "recipient_id",
    "requester_id",
    "responder_id",
    "mentor_id",
    "mentee_id",
    "manager_id",
    "facilitator_agreed_by",
    "person_id",
)


def _own(alias: str) -> str:
    return f"(to_jsonb({alias}) - 'tenant_id')"


_CONVERSATIONS = (
    f"SELECT ({_own('c')} || jsonb_build_object("
    "'agenda_items', COALESCE((SELECT jsonb_agg(" + _own("a") + " ORDER BY a.position, a.id) "
    f"FROM agenda_items a WHERE a.conversation_id = c.id AND {visibility.authored('a', '$1')}),"
    " '[]'::jsonb), "
    "'notes', COALESCE((SELECT jsonb_agg(" + _own("n") + " ORDER BY n.created_at, n.id) "
    "FROM conversation_notes n WHERE n.conversation_id = c.id AND "
    f"{visibility.authored('n', '$1')}), '[]'::jsonb)))::text "
    "FROM conversations c WHERE c.tenant_id = $2 AND (c.employee_id = $1 OR c.facilitator_id = $1) "
    "ORDER BY c.created_at, c.id"
)


def _simple(table: str, condition: str) -> str:
    # B608: table names and conditions are constants of this module
    return (
        f"SELECT {_own('t')}::text FROM {table} t WHERE t.tenant_id = $2 AND ({condition}) "  # nosec B608
        "ORDER BY t.created_at, t.id"
    )


_NAMED = " OR ".join(f"e.data->>'{key}' = $1::text" for key in PERSON_KEYS)
_REDACTED = '\'{"external_id": null, "metadata": {}}\'::jsonb'


def _events_sql(mode: str) -> str:
    condition = visibility.events_condition(mode).replace("{0}", "$1").replace("{1}", "$2")
    # B608: constants of this module and of app/services/visibility.py
    return (
        "SELECT ((to_jsonb(e) - 'tenant_id' - 'txid' - 'api_key_id' - 'data') || "  # nosec B608
        "jsonb_build_object('data', CASE WHEN e.subject_type = 'person' AND e.subject_id <> $1 "
        f"THEN e.data || {_REDACTED} ELSE e.data END))::text FROM events e "
        f"WHERE e.tenant_id = $2 AND (e.subject_id = $1 OR e.person_id = $1 OR {_NAMED}) "
        f"AND {condition} ORDER BY e.occurred_at, e.id"
    )


SECTIONS: tuple[tuple[str, str], ...] = (
    ("conversations", _CONVERSATIONS),
    ("goals", _simple("goals", "t.owner_id = $1")),
    ("action_plans", _simple("action_plans", "t.owner_id = $1")),
    (
        "action_items",
        _simple(
            "action_items",
            "t.assignee_id = $1 OR t.plan_id IN (SELECT p.id FROM action_plans p "
            "WHERE p.tenant_id = $2 AND p.owner_id = $1)",
        ),
    ),
    ("feedback_given", _simple("feedback", "t.giver_id = $1")),
    ("feedback_received", _simple("feedback", "t.recipient_id = $1")),
    (
        "feedback_requests",
        _simple("feedback_requests", "t.requester_id = $1 OR t.responder_id = $1"),
    ),
    (
        "follow_ups",
        _simple(
            "follow_ups",
            "t.assignee_id = $1 OR t.conversation_id IN (SELECT c.id FROM conversations c "
            "WHERE c.tenant_id = $2 AND (c.employee_id = $1 OR c.facilitator_id = $1))",
        ),
    ),
    ("mentorships", _simple("mentorships", "t.mentor_id = $1 OR t.mentee_id = $1")),
)


class _ChunkWriter:
    """Buffers the document and writes a chunk row each ``CHUNK_BYTES``."""

    def __init__(
        self, raw: asyncpg.Connection, job_id: uuid.UUID, lease: _Lease | None = None
    ) -> None:
        self.raw, self.job_id, self.lease = raw, job_id, lease
        self.buffer = bytearray()
        self.seq = 0
        self.size = 0

    async def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= CHUNK_BYTES:
            await self._chunk(bytes(self.buffer[:CHUNK_BYTES]))
            del self.buffer[:CHUNK_BYTES]

    async def flush(self) -> None:
        if self.buffer:
            await self._chunk(bytes(self.buffer))
            self.buffer = bytearray()

    async def _chunk(self, data: bytes) -> None:
        """One chunk of exactly ``CHUNK_BYTES`` (the last one may be shorter)."""
        await self.raw.execute(
            "INSERT INTO export_chunks (job_id, seq, data) VALUES ($1, $2, $3)",
            self.job_id,
            self.seq,
            data,
        )
        self.size += len(data)
        self.seq += 1
        if self.lease is not None:
            await self.lease.renew()


async def _rows(raw: asyncpg.Connection, writer: _ChunkWriter, sql: str, *args: Any) -> None:
    await writer.write(b"[")
    first = True
    async for row in raw.cursor(sql, *args, prefetch=PREFETCH):
        await writer.write(row[0].encode() if first else b"," + row[0].encode())
        first = False
    await writer.write(b"]")


async def write_document(
    session: AsyncSession,
    job_id: uuid.UUID,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID,
    lease: _Lease | None = None,
) -> int:
    """Write the job's document into its chunks (in the session's transaction); its size."""
    # Through the session first: this opens its transaction, which the raw statements and
    # the cursors (they need one) then run in.
    mode = await session.scalar(
        sa.text("SELECT managers_see_reports FROM tenants WHERE id = :id"), {"id": tenant_id}
    )
    raw = await session_raw(session)
    await raw.execute("DELETE FROM export_chunks WHERE job_id = $1", job_id)  # a retaken job
    person = await raw.fetchval(
        "SELECT (to_jsonb(p) - 'tenant_id')::text FROM people p "
        "WHERE p.id = $1 AND p.tenant_id = $2",
        person_id,
        tenant_id,
    )
    if person is None:
        raise NotFound("The person was deleted.")
    writer = _ChunkWriter(raw, job_id, lease)
    head = {"format": FORMAT, "export_id": str(job_id), "generated_at": utcnow().isoformat()}
    await writer.write(orjson.dumps(head)[:-1] + b',"person":' + person.encode())
    for name, sql in (*SECTIONS, ("events", _events_sql(mode))):
        await writer.write(b',"' + name.encode() + b'":')
        await _rows(raw, writer, sql, person_id, tenant_id)
    await writer.write(b"}")
    await writer.flush()
    return writer.size


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> Claim | None:
    """Claim the oldest pending job (or a running one whose lease lapsed), committed."""
    now = now or utcnow()
    async with sessionmaker() as session:
        claimed = (await session.execute(_CLAIM, {"now": now, "lease": now + LEASE})).first()
        await session.commit()
    return None if claimed is None else Claim(*claimed)


async def process(sessionmaker: async_sessionmaker[AsyncSession], claimed: Claim) -> None:
    """Write a claimed job's document and complete it (one transaction), or fail it. Both
    change the job only while this worker still holds its lease: a worker whose lease
    lapsed and whose job was taken again drops its work (its chunks roll back)."""
    job_id, tenant_id = claimed.job_id, claimed.tenant_id
    lease = _Lease(sessionmaker, claimed)
    try:
        async with sessionmaker() as session:
            size = await write_document(session, job_id, tenant_id, claimed.person_id, lease)
            done = utcnow()
            completed = await session.scalar(
                _COMPLETE,
                {
                    "size": size,
                    "done": done,
                    "expires": done + EXPIRY,
                    "id": job_id,
                    "token": lease.token,
                },
            )
            if completed is None:
                raise LeaseLost(f"export {job_id} was taken again by another worker")
            await events.record(
                session,
                tenant_id=tenant_id,
                type=EXPORTED,
                subject_type="export",
                subject_id=job_id,
                data=ExportRead.model_validate(dict(await READER.row(session, job_id))).model_dump(
                    mode="json"
                ),
            )
            await session.commit()
    except LeaseLost:
        log.warning("export %s: the lease lapsed and another worker has the job", job_id)
    except Exception as exc:  # the job fails; the worker goes on
        if database_unavailable(exc):
            raise  # the lease lapses and a later pass takes the job again
        log.exception("export %s failed", job_id)
        await fail(sessionmaker, job_id, lease.token)


async def fail(
    sessionmaker: async_sessionmaker[AsyncSession], job_id: uuid.UUID, token: datetime
) -> bool:
    """Mark the job failed if it still runs under the lease ``token``; whether it did."""
    async with sessionmaker() as session:
        failed = await session.scalar(
            _FAIL,
            {
                # The cause is in the logs; the API says what to do (no internals).
                "error": "The export could not be written; request a new one.",
                "now": utcnow(),
                "id": job_id,
                "token": token,
            },
        )
        await session.commit()
    return failed is not None


async def run_one(
    sessionmaker: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> bool:
    """Claim one job and write it (one transaction for the claim, one for the document and
    its completion); whether there was one."""
    claimed = await claim(sessionmaker, now)
    if claimed is None:
        return False
    await process(sessionmaker, claimed)
    return True
