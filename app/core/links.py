"""OpenAPI links: from each create to the operations on what it created.

A create (a POST answering 201) on a collection path ``P`` links to every operation on
``P/{id}`` and below whose path parameters are ``P``'s own plus that one new id: the id
comes from the created resource (``$response.body#/id``), the others from the create's own
path. Clients and tools (Schemathesis' stateful phase) can follow create, then get, update,
act on and delete the same resource.
"""

from __future__ import annotations

import re
from typing import Any

_PARAMETER = re.compile(r"\{([^}]+)\}")


def add_links(schema: dict[str, Any]) -> None:
    paths: dict[str, dict[str, Any]] = schema.get("paths", {})
    for path, operations in paths.items():
        create = operations.get("post")
        created = (create or {}).get("responses", {}).get("201")
        if created is None:
            continue
        own = _PARAMETER.findall(path)
        links: dict[str, Any] = {}
        for target, target_operations in paths.items():
            if not target.startswith(path + "/{"):
                continue
            new = [name for name in _PARAMETER.findall(target) if name not in own]
            if len(new) != 1:
                continue
            parameters = {name: f"$request.path.{name}" for name in own}
            parameters[new[0]] = "$response.body#/id"
            for operation in target_operations.values():
                operation_id = operation.get("operationId")
                if operation_id:
                    links[operation_id] = {
                        "operationId": operation_id,
                        "parameters": parameters,
                    }
        if links:
            created["links"] = links
