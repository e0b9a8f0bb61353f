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


class Team:
    """Ada (employee) reports to Grace (her manager, the facilitator), who reports to Skip;
    Colleague is unrelated. ``as_(person)`` are the tenant's headers acting for them."""

    def __init__(self, headers: dict[str, str], people: dict[str, dict[str, Any]]) -> None:
        self.headers = headers
        self.people = people
        self.ids = {name: person["id"] for name, person in people.items()}

    def as_(self, name: str) -> dict[str, str]:
        return {**self.headers, "Acting-Person": self.ids[name]}


async def create_team(client: httpx.AsyncClient, headers: dict[str, str]) -> Team:
    skip = await create_person(client, headers, name="Skip Level")
    grace = await create_person(client, headers, name="Grace Hopper", manager_id=skip["id"])
    ada = await create_person(client, headers, name="Ada Lovelace", manager_id=grace["id"])
    colleague = await create_person(client, headers, name="Colleague")
    return Team(headers, {"ada": ada, "grace": grace, "skip": skip, "colleague": colleague})
