"""Small async factories that create resources through the API, as an integrator would."""

from __future__ import annotations

from typing import Any

import httpx


async def create_person(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"name": "Ada Lovelace", **fields}
    response = await client.post("/v1/people", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
