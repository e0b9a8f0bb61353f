from __future__ import annotations

from app.models.base import uuid7


def test_uuid7_ids_sort_in_creation_order_within_a_millisecond() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7}
