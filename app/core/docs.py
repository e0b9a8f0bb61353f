"""Swagger UI, ReDoc and the integrator's guide served from the app itself: no CDN, works
offline."""

from __future__ import annotations

import functools
import html
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from starlette.responses import HTMLResponse, Response

from app.core.errors import NotFound

STATIC_URL = "/static/docs"
GUIDE_URL = "/guide"
_ASSETS = Path(fastapi_offline.__file__).parent / "static"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]
# A checkout or an editable install has openapi.md beside app/; the Docker image copies it
# into its working directory (like alembic.ini, see app/core/migrations.py).
GUIDE_FILE = (
    _SOURCE_ROOT / "openapi.md"
    if (_SOURCE_ROOT / "openapi.md").exists()
    else Path.cwd() / "openapi.md"
)

# ReDoc's side menu ends with "API docs by Redocly" and the Redocly logo as an <img> from
# Redocly's CDN, which every visit would fetch (upstream Redocly/redoc#2108). The copy served
# here has no address for it: the image fails at once without a request, and ReDoc drops it
# as it does offline (its onError), keeping the text credit and its link.
_REDOC_JS = "redoc.standalone.js"
_REDOC_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'


@functools.cache
def redoc_js() -> bytes:
    """fastapi-offline's ReDoc bundle without the logo from the CDN (read once)."""
    return (_ASSETS / _REDOC_JS).read_bytes().replace(_REDOC_LOGO, b'src:""')


_GUIDE_STYLE = """
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 60rem; margin: 0 auto; padding: 1rem 2rem 4rem; }
nav { font-size: 0.9em; margin-bottom: 1rem; }
h1, h2 { border-bottom: 1px solid #d1d9e0; padding-bottom: 0.3em; }
code, pre { font: 0.875em/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: #eff1f3; padding: 0.1em 0.3em; border-radius: 4px; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; border-radius: 6px; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; display: block; overflow-x: auto; }
th, td { border: 1px solid #d1d9e0; padding: 0.35em 0.7em; vertical-align: top; }
tr:nth-child(even) { background: #f6f8fa; }
a { color: #0969da; }
"""


@functools.cache
def guide_html(title: str) -> str:
    """openapi.md as one HTML page, rendered on first use and kept (the file is part of the
    release). Headings get GitHub's anchors, so the guide's own #links work here too."""
    if not GUIDE_FILE.exists():
        raise NotFound("The integrator's guide is not installed on this server.")
    markdown = (
        MarkdownIt("commonmark", {"html": True})
        .enable("table")
        .use(anchors_plugin, min_level=1, max_level=4, permalink=False)
    )
    body = markdown.render(GUIDE_FILE.read_text(encoding="utf-8"))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} - integrator's guide</title>"
        f"<style>{_GUIDE_STYLE}</style></head><body>"
        '<nav><a href="docs">Swagger UI</a> · <a href="redoc">ReDoc</a> · '
        '<a href="openapi.json">openapi.json</a></nav>'
        f"{body}</body></html>"
    )


def install_docs(app: FastAPI) -> None:
    # Before the static mount, which would otherwise answer this path with the original.
    @app.get(f"{STATIC_URL}/{_REDOC_JS}", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(
            redoc_js(),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    app.mount(STATIC_URL, StaticFiles(directory=_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            # validatorUrl: no badge fetched from swagger.io (offline; the spec stays private).
            swagger_ui_parameters={
                "persistAuthorization": True,
                "displayOperationId": True,
                "validatorUrl": None,
            },
        )

    @app.get(GUIDE_URL, include_in_schema=False)
    async def guide() -> HTMLResponse:
        return HTMLResponse(guide_html(app.title))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/{_REDOC_JS}",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
