"""Factories for conversations, agenda items and notes, through the API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import create_person


async def create_conversation(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """A draft conversation; the employee and facilitator are created unless given."""
    if "employee_id" not in fields:
        fields["employee_id"] = (await create_person(client, headers, name="Ada Lovelace"))["id"]
    if "facilitator_id" not in fields:
        manager = await create_person(client, headers, name="Grace Hopper")
        fields["facilitator_id"] = manager["id"]
    response = await client.post("/v1/conversations", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_agenda_item(
    client: httpx.AsyncClient, headers: dict[str, str], conversation: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {"author_id": conversation["employee_id"], "topic": "Next role", **fields}
    response = await client.post(
        f"/v1/conversations/{conversation['id']}/agenda-items", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_note(
    client: httpx.AsyncClient, headers: dict[str, str], conversation: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {"author_id": conversation["employee_id"], "body": "A note", **fields}
    response = await client.post(
        f"/v1/conversations/{conversation['id']}/notes", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
