"""The import layering of app/, read with ``ast`` (imports inside functions count too):
routers → services → schemas / core → models; background may import services; nothing
imports routers except app/main.py and the routers package itself."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

# What each layer may import (besides itself). Modules at the top of app/ (main, cli,
# demo) assemble the layers and may import any of them.
ALLOWED: dict[str, set[str]] = {
    "models": set(),
    "core": {"models"},
    "schemas": {"core", "models"},
    "services": {"schemas", "core", "models"},
    "background": {"services", "schemas", "core", "models"},
    "routers": {"services", "schemas", "core", "models"},
}
ROUTER_IMPORTERS = {"app.main", "app.routers"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``app.…`` module the file imports: ``from app.x import y`` counts ``app.x.y``
    when y is a module, else ``app.x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("app"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "app" and not node.module.startswith("app."):
                continue
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if _is_module(name) else node.module)
    return found


def _is_module(name: str) -> bool:
    path = APP.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or parts[1] in ALLOWED else None


def _edges() -> list[tuple[str, str]]:
    return sorted(
        (_module_name(path), target)
        for path in APP.rglob("*.py")
        for target in _imports(path)
        if target != "app"
    )


def test_the_scan_sees_the_app() -> None:
    edges = _edges()
    assert ("app.routers.people", "app.services.people") in edges
    assert ("app.background.worker", "app.background.webhook_delivery") in edges
    assert ("app.main", "app.routers") in edges
    assert {_layer(module) for module, _ in edges} >= set(ALLOWED)


def test_each_layer_imports_only_the_layers_below() -> None:
    upward = []
    for module, target in _edges():
        source, dest = _layer(module), _layer(target)
        if source is None or dest is None or source == dest:
            continue  # app/main.py, app/cli.py, app/demo.py assemble the layers
        if dest not in ALLOWED[source]:
            upward.append(f"{module} imports {target}")
    assert upward == []


def test_only_main_imports_the_routers() -> None:
    importers = sorted(
        module
        for module, target in _edges()
        if _layer(target) == "routers" and _layer(module) != "routers"
    )
    assert set(importers) <= ROUTER_IMPORTERS
    assert "app.main" in importers


def test_every_conditional_write_loads_through_get_for_write() -> None:
    """A route taking If-Match loads its resource with the service's ``…for_write`` helper
    (load, lock ``FOR UPDATE``, check If-Match), never by hand."""
    by_hand = []
    checked = []
    for path in sorted((APP / "routers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.AsyncFunctionDef):
                continue
            if "if_match" not in {a.arg for a in node.args.args + node.args.kwonlyargs}:
                continue
            called = {
                call.func.attr
                for call in ast.walk(node)
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            }
            checked.append(node.name)
            if not any(name.endswith("for_write") for name in called):
                by_hand.append(f"{path.name}:{node.name}")
    assert by_hand == []
    # every PATCH and DELETE, linking a goal, the aspiration and assessment PUTs, SCIM's PUT,
    # PATCH and DELETE
    assert len(checked) == 38
