"""The committed ``openapi.json`` is the app's document, valid, with examples that fit.

Regenerate it after a change to the API: ``.venv/bin/ccapi openapi > openapi.json``. CI
lints the committed file with Redocly (``.ci/run``); these tests keep it equal to what the
app serves, valid for ``openapi-spec-validator``, and its examples valid for their schemas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.core.config import Settings
from app.main import create_app

DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.json"
REGENERATE = "regenerate it: .venv/bin/ccapi openapi > openapi.json"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return document


def test_committed_document_is_the_apps(settings: Settings) -> None:
    served = create_app(settings).openapi()
    committed_text = DOCUMENT.read_text(encoding="utf-8")
    # The same text `ccapi openapi` prints, so the file never drifts in form either.
    expected_text = json.dumps(served, indent=2) + "\n"
    if committed_text != expected_text:
        committed = json.loads(committed_text)
        changed = sorted(
            f"{section}: {key}"
            for section in ("paths", "webhooks")
            for key in set(served.get(section, {})) | set(committed.get(section, {}))
            if served.get(section, {}).get(key) != committed.get(section, {}).get(key)
        ) + sorted(
            f"components.schemas: {name}"
            for name in set(served["components"]["schemas"])
            | set(committed["components"]["schemas"])
            if served["components"]["schemas"].get(name)
            != committed["components"]["schemas"].get(name)
        )
        pytest.fail(f"openapi.json differs from the app's document ({changed[:20]}); {REGENERATE}")


def test_committed_document_is_valid_openapi(committed: dict[str, Any]) -> None:
    assert committed["openapi"] == "3.1.0"
    validate(committed)  # raises OpenAPIValidationError, naming the place


def _examples(node: Any, where: str) -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) for each schema's ``examples`` and each media type's
    ``example`` in the document."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list) and not where.endswith("/properties"):
            schema = {k: v for k, v in node.items() if k != "examples"}
            found += [(where, schema, example) for example in node["examples"]]
        if "example" in node and isinstance(node.get("schema"), dict):
            found.append((where, node["schema"], node["example"]))
        for key, value in node.items():
            found += _examples(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _examples(value, f"{where}/{index}")
    return found


def test_examples_fit_their_schemas(committed: dict[str, Any]) -> None:
    """What Redocly's no-invalid-schema-examples and no-invalid-media-type-examples check,
    without Node: every example validates against its own schema (nullable fields present)."""
    registry = Registry().with_resource(
        "urn:ccapi", Resource.from_contents(committed, default_specification=DRAFT202012)
    )

    def absolute(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: ("urn:ccapi" + v if k == "$ref" and v.startswith("#") else absolute(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [absolute(v) for v in value]
        return value

    examples = _examples(committed, "#")
    assert len(examples) > 100
    problems = [
        f"{where}: {error.json_path} {error.message[:200]}"
        for where, schema, example in examples
        for error in Draft202012Validator(absolute(schema), registry=registry).iter_errors(example)
    ]
    assert problems == []
