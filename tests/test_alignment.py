"""Expectations alignment: versioned aspirations and assessments, the alignment between their
current versions, its transition events (each exactly once), who may write and read them,
and conversations referencing the versions they discussed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.models.event import Event
from app.services.alignment import compare
from tests.conftest import TenantKey
from tests.factories import create_person

ALIGNMENT_TYPES = ("alignment.changed", "alignment.gap_detected")

# ------------------------------------------------------------------ the pure comparison

ASP = {"target_role": "Staff Engineer", "target_level": "L6", "horizon_months": 18}
ASS = {"realistic_role": "staff  engineer", "realistic_level": "l6", "readiness": "ready_now"}
L1, L2 = uuid.UUID(int=1), uuid.UUID(int=2)


@pytest.mark.parametrize(
    ("aspiration", "assessment", "want"),
    [
        (None, None, ("unknown", [])),
        (ASP, None, ("unknown", [])),
        (None, ASS, ("unknown", [])),
        # role and level ignore case and whitespace
        (ASP, ASS, ("aligned", [])),
        (ASP, {**ASS, "realistic_role": "StaffEngineer"}, ("aligned", [])),
        (ASP, {**ASS, "realistic_role": "Principal Engineer"}, ("gap", ["role"])),
        (ASP, {**ASS, "realistic_level": "L5"}, ("gap", ["level"])),
        # a level is compared only when both sides give one
        ({**ASP, "target_level": None}, {**ASS, "realistic_level": "L5"}, ("aligned", [])),
        (ASP, {**ASS, "realistic_level": None}, ("aligned", [])),
        # both sides name a track level: the level ids decide, not the free-text levels
        (
            {**ASP, "track_level_id": L1},
            {**ASS, "track_level_id": L1, "realistic_level": "L5"},
            ("aligned", []),
        ),
        ({**ASP, "track_level_id": L1}, {**ASS, "track_level_id": L2}, ("gap", ["level"])),
        # only one side names a level: the free-text levels decide
        ({**ASP, "track_level_id": L1}, ASS, ("aligned", [])),
        ({**ASP, "track_level_id": L1}, {**ASS, "realistic_level": "L5"}, ("gap", ["level"])),
        (ASP, {**ASS, "track_level_id": L2, "realistic_level": None}, ("aligned", [])),
        # horizon vs readiness
        ({**ASP, "horizon_months": 1}, ASS, ("aligned", [])),
        ({**ASP, "horizon_months": 12}, {**ASS, "readiness": "ready_in_1_year"}, ("aligned", [])),
        (
            {**ASP, "horizon_months": 11},
            {**ASS, "readiness": "ready_in_1_year"},
            ("gap", ["horizon"]),
        ),
        ({**ASP, "horizon_months": 24}, {**ASS, "readiness": "ready_in_2_years"}, ("aligned", [])),
        (
            {**ASP, "horizon_months": 23},
            {**ASS, "readiness": "ready_in_2_years"},
            ("gap", ["horizon"]),
        ),
        (
            {**ASP, "horizon_months": 120},
            {**ASS, "readiness": "not_on_this_path"},
            ("gap", ["horizon"]),
        ),
        # every difference, in the fixed order
        (
            {**ASP, "horizon_months": 6},
            {"realistic_role": "Manager", "realistic_level": "M1", "readiness": "ready_in_2_years"},
            ("gap", ["role", "level", "horizon"]),
        ),
    ],
)
def test_compare(
    aspiration: dict[str, Any] | None, assessment: dict[str, Any] | None, want: Any
) -> None:
    assert compare(aspiration, assessment) == want


# ------------------------------------------------------------------ the world


class People:
    """skip manages manager, who manages employee and colleague; mentor mentors employee."""

    def __init__(self, client: httpx.AsyncClient, tenant: TenantKey) -> None:
        self.client, self.headers, self.ids = client, tenant.headers, {}

    async def build(self) -> People:
        make = lambda name, **f: create_person(self.client, self.headers, name=name, **f)  # noqa: E731
        self.ids["skip"] = (await make("Skip"))["id"]
        self.ids["manager"] = (await make("Manager", manager_id=self.ids["skip"]))["id"]
        self.ids["employee"] = (await make("Employee", manager_id=self.ids["manager"]))["id"]
        self.ids["colleague"] = (await make("Colleague", manager_id=self.ids["manager"]))["id"]
        self.ids["mentor"] = (await make("Mentor"))["id"]
        pair = {"mentor_id": self.ids["mentor"], "mentee_id": self.ids["employee"]}
        made = await self.client.post("/v1/mentorships", json=pair, headers=self.headers)
        assert made.status_code == 201, made.text
        self.ids["mentorship"] = made.json()["id"]
        return self

    def as_(self, role: str) -> dict[str, str]:
        if role == "platform":
            return self.headers
        return {**self.headers, "Acting-Person": self.ids[role]}

    @property
    def employee(self) -> str:
        return self.ids["employee"]

    async def aspire(self, role: str = "employee", **fields: Any) -> httpx.Response:
        body = {"target_role": "Staff Engineer", "target_level": "L6", "horizon_months": 18}
        return await self.client.put(
            f"/v1/people/{self.employee}/aspiration",
            json={**body, **fields},
            headers=self.as_(role),
        )

    async def assess(self, role: str = "manager", **fields: Any) -> httpx.Response:
        by = self.ids["manager" if role == "platform" else role]
        body = {
            "assessed_by": by,
            "realistic_role": "Staff Engineer",
            "realistic_level": "L6",
            "readiness": "ready_in_1_year",
        }
        return await self.client.put(
            f"/v1/people/{self.employee}/assessment",
            json={**body, **fields},
            headers=self.as_(role),
        )

    async def alignment(self, role: str = "platform") -> httpx.Response:
        return await self.client.get(
            f"/v1/people/{self.employee}/alignment", headers=self.as_(role)
        )

    async def events(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        response = await self.client.get(
            "/v1/events", params={"type": list(types), "limit": 100}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return [(e["type"], e["data"]) for e in response.json()["data"]]


@pytest.fixture
async def w(client: httpx.AsyncClient, tenant: TenantKey) -> People:
    return await People(client, tenant).build()


def changed(
    before: str, after: str, differences: list[str], asp: Any, ass: Any, person: str
) -> Any:
    return (
        "alignment.changed",
        {
            "person_id": person,
            "from": before,
            "to": after,
            "differences": differences,
            "aspiration_id": asp,
            "assessment_id": ass,
        },
    )


def gap(differences: list[str], asp: Any, ass: Any, person: str) -> Any:
    return (
        "alignment.gap_detected",
        {
            "person_id": person,
            "differences": differences,
            "aspiration_id": asp,
            "assessment_id": ass,
        },
    )


# ------------------------------------------------------------------ versions


async def test_aspiration_versions_and_history(w: People) -> None:
    missing = await w.client.get(f"/v1/people/{w.employee}/aspiration", headers=w.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    empty = await w.client.get(f"/v1/people/{w.employee}/aspiration/history", headers=w.headers)
    assert empty.json() == {"data": [], "next_cursor": None, "has_more": False}

    first = await w.aspire(mobility="team", wants_to_learn=["Design"], notes="Soon")
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert first.headers["Location"] == f"/v1/people/{w.employee}/aspiration"
    assert {k: v for k, v in v1.items() if k not in ("id", "created_at")} == {
        "person_id": w.employee,
        "version": 1,
        "target_role": "Staff Engineer",
        "target_level": "L6",
        "track_level_id": None,
        "horizon_months": 18,
        "mobility": "team",
        "wants_to_learn": ["Design"],
        "notes": "Soon",
    }
    # the same content: no new version, 200 with the current one and its ETag
    again = await w.aspire(mobility="team", wants_to_learn=["Design"], notes="Soon")
    assert (again.status_code, again.json(), again.headers["ETag"]) == (
        200,
        v1,
        first.headers["ETag"],
    )
    second = await w.aspire(horizon_months=30)
    assert second.status_code == 201
    v2 = second.json()
    assert (v2["version"], v2["mobility"], v2["wants_to_learn"], v2["notes"]) == (
        2,
        "none",
        [],
        None,
    )
    got = await w.client.get(f"/v1/people/{w.employee}/aspiration", headers=w.headers)
    assert (got.json(), got.headers["ETag"]) == (v2, second.headers["ETag"])
    history = await w.client.get(
        f"/v1/people/{w.employee}/aspiration/history", params={"limit": 1}, headers=w.headers
    )
    assert [v["version"] for v in history.json()["data"]] == [2]
    assert history.json()["has_more"] is True
    rest = await w.client.get(
        f"/v1/people/{w.employee}/aspiration/history",
        params={"limit": 1, "cursor": history.json()["next_cursor"]},
        headers=w.headers,
    )
    assert rest.json()["data"] == [v1]
    updated = await w.events("aspiration.updated")
    assert updated == [("aspiration.updated", v1), ("aspiration.updated", v2)]


async def test_assessment_versions_and_history(w: People) -> None:
    first = await w.assess(pathway="Lead a migration", gaps=["Influence"], opportunities=["X"])
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert {k: v for k, v in v1.items() if k not in ("id", "created_at")} == {
        "person_id": w.employee,
        "version": 1,
        "assessed_by": w.ids["manager"],
        "realistic_role": "Staff Engineer",
        "realistic_level": "L6",
        "track_level_id": None,
        "readiness": "ready_in_1_year",
        "pathway": "Lead a migration",
        "gaps": ["Influence"],
        "opportunities": ["X"],
    }
    by_mentor = await w.assess("mentor", readiness="ready_now")
    assert by_mentor.status_code == 201
    by_skip = await w.assess("skip", readiness="ready_now")
    assert by_skip.status_code == 201
    history = await w.client.get(f"/v1/people/{w.employee}/assessment/history", headers=w.headers)
    assert [(v["version"], v["assessed_by"]) for v in history.json()["data"]] == [
        (3, w.ids["skip"]),
        (2, w.ids["mentor"]),
        (1, w.ids["manager"]),
    ]
    got = await w.client.get(f"/v1/people/{w.employee}/assessment", headers=w.headers)
    assert got.json() == by_skip.json()
    assert [d["version"] for _, d in await w.events("assessment.updated")] == [1, 2, 3]


# ------------------------------------------------------------------ transitions


async def test_unknown_to_aligned_then_gap_then_aligned(w: People) -> None:
    person = w.employee
    asp1 = (await w.aspire()).json()["id"]
    unknown = (await w.alignment()).json()
    assert unknown == {
        "person_id": person,
        "status": "unknown",
        "differences": [],
        "aspiration_id": asp1,
        "assessment_id": None,
        "computed_at": unknown["computed_at"],
    }
    assert await w.events(*ALIGNMENT_TYPES) == []

    ass1 = (await w.assess()).json()["id"]
    aligned = (await w.alignment()).json()
    assert (aligned["status"], aligned["differences"]) == ("aligned", [])
    assert (aligned["aspiration_id"], aligned["assessment_id"]) == (asp1, ass1)

    asp2 = (await w.aspire(horizon_months=6)).json()["id"]  # aligned -> gap
    # an unchanged write and a same-status write record nothing more
    assert (await w.aspire(horizon_months=6)).status_code == 200
    asp3 = (await w.aspire(horizon_months=7)).json()["id"]
    ass2 = (await w.assess(readiness="ready_now")).json()["id"]  # gap -> aligned
    assert await w.events(*ALIGNMENT_TYPES) == [
        changed("unknown", "aligned", [], asp1, ass1, person),
        changed("aligned", "gap", ["horizon"], asp2, ass1, person),
        gap(["horizon"], asp2, ass1, person),
        changed("gap", "aligned", [], asp3, ass2, person),
    ]
    final = (await w.alignment()).json()
    assert (final["status"], final["aspiration_id"], final["assessment_id"]) == (
        "aligned",
        asp3,
        ass2,
    )


async def test_unknown_to_gap_and_gap_to_gap(w: People) -> None:
    person = w.employee
    ass1 = (await w.assess(realistic_role="Engineering Manager")).json()["id"]
    asp1 = (await w.aspire()).json()["id"]  # unknown -> gap (role)
    # gap -> gap with other differences: no event (the status did not change)
    ass2 = (await w.assess(realistic_level="L5", readiness="not_on_this_path")).json()["id"]
    assert await w.events(*ALIGNMENT_TYPES) == [
        changed("unknown", "gap", ["role"], asp1, ass1, person),
        gap(["role"], asp1, ass1, person),
    ]
    now = (await w.alignment()).json()
    assert (now["status"], now["differences"], now["assessment_id"]) == (
        "gap",
        ["level", "horizon"],
        ass2,
    )
    # once both sides exist, no write brings the alignment back to unknown
    assert (await w.aspire(target_role="Anything")).status_code == 201
    assert (await w.alignment()).json()["status"] == "gap"


# ------------------------------------------------------------------ refusals


async def test_aspiration_is_written_only_by_the_person_or_the_platform(w: People) -> None:
    for role in ("manager", "skip", "colleague", "mentor"):
        refused = await w.aspire(role)
        assert (refused.status_code, refused.json()["code"]) == (403, "not_permitted"), role
    assert (await w.aspire("platform")).status_code == 201
    assert (await w.aspire("platform", horizon_months=2)).json()["version"] == 2


async def test_assessment_writers(w: People) -> None:
    # the employee and a colleague are not facilitators: 403 as themselves
    for role in ("employee", "colleague"):
        refused = await w.assess(role)
        assert (refused.status_code, refused.json()["code"]) == (403, "not_permitted"), role
    # a person writes only as themselves
    posing = await w.client.put(
        f"/v1/people/{w.employee}/assessment",
        json={"assessed_by": w.ids["mentor"], "realistic_role": "X", "readiness": "ready_now"},
        headers=w.as_("manager"),
    )
    assert (posing.status_code, posing.json()["code"]) == (403, "not_permitted")
    # the platform names a non-facilitator or an unknown person: 422 on assessed_by
    for by, code in (
        (w.ids["colleague"], "not_a_facilitator"),
        (w.ids["mentorship"], "unknown_reference"),
    ):
        bad = await w.client.put(
            f"/v1/people/{w.employee}/assessment",
            json={"assessed_by": by, "realistic_role": "X", "readiness": "ready_now"},
            headers=w.headers,
        )
        assert bad.status_code == 422, bad.text
        assert [(e["pointer"], e["code"]) for e in bad.json()["errors"]] == [
            ("/body/assessed_by", code)
        ]
    # an ended mentorship no longer qualifies
    ended = await w.client.post(
        f"/v1/mentorships/{w.ids['mentorship']}/end", json={}, headers=w.headers
    )
    assert ended.status_code == 200
    assert (await w.assess("mentor")).status_code == 403
    assert await w.events("assessment.updated") == []


async def test_bad_bodies_and_unknown_people(w: People, other_tenant: TenantKey) -> None:
    for fields in (
        {"horizon_months": 0},
        {"horizon_months": 121},
        {"mobility": "mars"},
        {"target_role": ""},
        {"wants_to_learn": ["x"] * 21},
        {"notes": "x" * 4001},
        {"rank": 3},
    ):
        bad = await w.aspire(**fields)
        assert bad.status_code == 422, fields
        assert bad.headers["content-type"] == "application/problem+json"
    bad = await w.assess(readiness="someday")
    assert [e["pointer"] for e in bad.json()["errors"]] == ["/body/readiness"]
    stranger = await create_person(w.client, other_tenant.headers, name="Elsewhere")
    for path in ("aspiration", "assessment", "alignment", "aspiration/history"):
        missing = await w.client.get(f"/v1/people/{stranger['id']}/{path}", headers=w.headers)
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found"), path
    put = await w.client.put(
        f"/v1/people/{stranger['id']}/aspiration",
        json={"target_role": "X", "horizon_months": 3},
        headers=w.headers,
    )
    assert put.status_code == 404


async def test_track_levels(w: People, other_tenant: TenantKey) -> None:
    """Both sides name a career track level: shown on the reads and history, compared by id;
    unknown or foreign levels are a 422; a level a version names is not deleted (409)."""
    levels = [{"name": "L5"}, {"name": "L6"}]
    made = await w.client.post(
        "/v1/career-tracks", json={"name": "Engineering", "levels": levels}, headers=w.headers
    )
    assert made.status_code == 201, made.text
    track = made.json()
    l5, l6 = (level["id"] for level in track["levels"])
    foreign = await w.client.post(
        "/v1/career-tracks", json={"name": "Theirs", "levels": levels}, headers=other_tenant.headers
    )
    theirs = foreign.json()["levels"][0]["id"]
    for level in (theirs, str(uuid.UUID(int=7))):
        for bad in (await w.aspire(track_level_id=level), await w.assess(track_level_id=level)):
            assert bad.status_code == 422, bad.text
            assert [(e["pointer"], e["code"]) for e in bad.json()["errors"]] == [
                ("/body/track_level_id", "unknown_reference")
            ]
    assert await w.events("aspiration.updated", "assessment.updated") == []

    asp = await w.aspire(track_level_id=l6)
    assert (asp.status_code, asp.json()["track_level_id"]) == (201, l6)
    # the free-text levels agree ("L6"), the level ids do not: a level gap
    ass = await w.assess(track_level_id=l5)
    assert (ass.status_code, ass.json()["track_level_id"]) == (201, l5)
    aligned = (await w.alignment()).json()
    assert (aligned["status"], aligned["differences"]) == ("gap", ["level"])
    # the ids agree, the free-text levels do not: aligned
    ass2 = await w.assess(track_level_id=l6, realistic_level="Senior")
    assert ass2.status_code == 201
    aligned = (await w.alignment()).json()
    assert (aligned["status"], aligned["differences"]) == ("aligned", [])
    # the same content again is no new version; dropping the level is one
    assert (await w.assess(track_level_id=l6, realistic_level="Senior")).status_code == 200
    for path, want in (("aspiration", [l6]), ("assessment", [l6, l5])):
        got = await w.client.get(f"/v1/people/{w.employee}/{path}", headers=w.headers)
        assert got.json()["track_level_id"] == want[0]
        history = await w.client.get(f"/v1/people/{w.employee}/{path}/history", headers=w.headers)
        assert [v["track_level_id"] for v in history.json()["data"]] == want
    updated = await w.events("aspiration.updated", "assessment.updated")
    assert [(t, d["version"], d["track_level_id"]) for t, d in updated] == [
        ("aspiration.updated", 1, l6),
        ("assessment.updated", 1, l5),
        ("assessment.updated", 2, l6),
    ]

    url = f"/v1/career-tracks/{track['id']}"
    # l5 is named only by a past assessment version: still in use (versions are history);
    # the track's delete takes l6 too, which the aspiration names
    keep_l6 = {"levels": [{"id": l6, "name": "L6"}]}
    for response, using in (
        (await w.client.patch(url, json=keep_l6, headers=w.headers), ["assessments"]),
        (await w.client.delete(url, headers=w.headers), ["aspirations", "assessments"]),
    ):
        assert response.status_code == 409, response.text
        problem = response.json()
        assert (problem["code"], problem["referenced_by"]) == ("in_use", using)
    url_levels = [{"id": l5, "name": "Level 5"}, {"id": l6, "name": "Level 6"}, {"name": "L7"}]
    renamed = await w.client.patch(url, json={"levels": url_levels}, headers=w.headers)
    assert renamed.status_code == 200, renamed.text
    assert [lv["name"] for lv in renamed.json()["levels"]] == ["Level 5", "Level 6", "L7"]
    l7 = renamed.json()["levels"][2]["id"]
    # a level no version names goes
    dropped = await w.client.patch(url, json={"levels": url_levels[:2]}, headers=w.headers)
    assert (dropped.status_code, [lv["id"] for lv in dropped.json()["levels"]]) == (200, [l5, l6])
    assert l7 not in (l5, l6)
    # l6 named by the aspiration too: both kinds are reported
    both = await w.client.patch(url, json={"levels": [url_levels[0]]}, headers=w.headers)
    assert (both.status_code, both.json()["referenced_by"]) == (409, ["aspirations", "assessments"])
    # another tenant's unreferenced track still deletes
    gone = await w.client.delete(
        f"/v1/career-tracks/{foreign.json()['id']}", headers=other_tenant.headers
    )
    assert gone.status_code == 204


async def test_if_match(w: People) -> None:
    # no current version yet: any If-Match fails
    early = await w.client.put(
        f"/v1/people/{w.employee}/aspiration",
        json={"target_role": "X", "horizon_months": 3},
        headers={**w.headers, "If-Match": '"nope"'},
    )
    assert (early.status_code, early.json()["code"]) == (412, "precondition_failed")
    first = await w.aspire()
    etag = first.headers["ETag"]
    second = await w.client.put(
        f"/v1/people/{w.employee}/aspiration",
        json={"target_role": "Y", "horizon_months": 3},
        headers={**w.headers, "If-Match": etag},
    )
    assert second.status_code == 201
    stale = await w.client.put(
        f"/v1/people/{w.employee}/aspiration",
        json={"target_role": "Z", "horizon_months": 3},
        headers={**w.headers, "If-Match": etag},
    )
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    assessed = await w.assess()
    stale = await w.assess(readiness="ready_now")
    assert stale.status_code == 201
    refused = await w.client.put(
        f"/v1/people/{w.employee}/assessment",
        json={"assessed_by": w.ids["manager"], "realistic_role": "Q", "readiness": "ready_now"},
        headers={**w.headers, "If-Match": assessed.headers["ETag"]},
    )
    assert refused.status_code == 412
    history = await w.client.get(f"/v1/people/{w.employee}/aspiration/history", headers=w.headers)
    assert [v["target_role"] for v in history.json()["data"]] == ["Y", "Staff Engineer"]


async def test_readers(w: People) -> None:
    await w.aspire()
    await w.assess()
    see = {}
    for role in ("employee", "manager", "skip", "colleague", "mentor", "platform"):
        answers = []
        for path in ("aspiration", "assessment", "alignment", "aspiration/history"):
            response = await w.client.get(f"/v1/people/{w.employee}/{path}", headers=w.as_(role))
            answers.append(response.status_code)
        see[role] = answers
    assert see == {
        "employee": [200] * 4,
        "manager": [200] * 4,
        "skip": [200] * 4,
        "colleague": [404] * 4,
        "mentor": [404] * 4,
        "platform": [200] * 4,
    }
    # the events follow the same readers
    types = ["aspiration.updated", "assessment.updated", *ALIGNMENT_TYPES]
    feeds = {}
    for role in ("employee", "manager", "colleague", "mentor", "platform"):
        response = await w.client.get(
            "/v1/events", params={"type": types, "limit": 100}, headers=w.as_(role)
        )
        feeds[role] = [e["type"] for e in response.json()["data"]]
    seen = ["aspiration.updated", "assessment.updated", "alignment.changed"]
    assert feeds == {
        "employee": seen,
        "manager": seen,
        "colleague": [],
        "mentor": [],
        "platform": seen,
    }


# ------------------------------------------------------------------ conversations


async def test_conversations_reference_the_versions_they_discussed(w: People) -> None:
    aspiration = (await w.aspire()).json()["id"]
    assessment = (await w.assess()).json()["id"]
    colleague_version = await w.client.put(
        f"/v1/people/{w.ids['colleague']}/aspiration",
        json={"target_role": "Lead", "horizon_months": 12},
        headers=w.headers,
    )
    foreign = colleague_version.json()["id"]
    body = {"employee_id": w.employee, "facilitator_id": w.ids["manager"]}
    made = await w.client.post(
        "/v1/conversations",
        json={**body, "aspiration_version_id": aspiration, "assessment_version_id": assessment},
        headers=w.headers,
    )
    assert made.status_code == 201, made.text
    conversation = made.json()
    assert (conversation["aspiration_version_id"], conversation["assessment_version_id"]) == (
        aspiration,
        assessment,
    )
    got = await w.client.get(f"/v1/conversations/{conversation['id']}", headers=w.headers)
    assert got.json() == conversation
    # another person's version, or an assessment id given as an aspiration: 422
    for field, ident in (
        ("aspiration_version_id", foreign),
        ("aspiration_version_id", assessment),
        ("assessment_version_id", aspiration),
    ):
        bad = await w.client.post(
            "/v1/conversations", json={**body, field: ident}, headers=w.headers
        )
        assert bad.status_code == 422, bad.text
        assert [(e["pointer"], e["code"]) for e in bad.json()["errors"]] == [
            (f"/body/{field}", "unknown_reference")
        ]
        patched = await w.client.patch(
            f"/v1/conversations/{conversation['id']}", json={field: ident}, headers=w.headers
        )
        assert patched.status_code == 422, patched.text
        assert patched.json()["errors"][0]["pointer"] == f"/body/{field}"
    newer = (await w.aspire(horizon_months=30)).json()["id"]
    patched = await w.client.patch(
        f"/v1/conversations/{conversation['id']}",
        json={"aspiration_version_id": newer, "assessment_version_id": None},
        headers=w.headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["aspiration_version_id"], patched.json()["assessment_version_id"]) == (
        newer,
        None,
    )
    plain = await w.client.post("/v1/conversations", json=body, headers=w.headers)
    assert (plain.json()["aspiration_version_id"], plain.json()["assessment_version_id"]) == (
        None,
        None,
    )


# ------------------------------------------------------------------ concurrency


async def test_concurrent_writers_record_a_transition_once(
    committed_client: httpx.AsyncClient,
    tenant_c: TenantKey,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Twenty writers at once, no If-Match: the person's alignment row serialises them, so
    one records the new version (201) and the transition, the others find it current (200)."""
    w = await People(committed_client, tenant_c).build()
    assert (await w.assess()).status_code == 201
    assert (await w.aspire()).status_code == 201  # unknown -> aligned
    answers = await asyncio.gather(*(w.aspire(horizon_months=6) for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    # and two writers of the two sides at once: each transition once, in commit order
    both = await asyncio.gather(w.aspire(horizon_months=12), w.assess(readiness="ready_now"))
    assert sorted(a.status_code for a in both) == [201, 201]
    async with committed_app_sessionmaker() as session:
        rows = await session.execute(
            select(col(Event.type), col(Event.data))
            .where(col(Event.tenant_id) == tenant_c.tenant_id, col(Event.type).in_(ALIGNMENT_TYPES))
            .order_by(col(Event.id))
        )
        found = [(kind, data.get("from"), data.get("to")) for kind, data in rows]
    assert found == [
        ("alignment.changed", "unknown", "aligned"),
        ("alignment.changed", "aligned", "gap"),
        ("alignment.gap_detected", None, None),
        ("alignment.changed", "gap", "aligned"),
    ]
    final = (await w.alignment()).json()
    assert (final["status"], final["differences"]) == ("aligned", [])
