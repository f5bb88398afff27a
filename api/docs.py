"""`/docs` without the internet: Swagger UI's assets come from the `swagger-ui-bundle` package,
served under ``/docs/assets``, never from a CDN (issue 15).

The package ships Swagger UI 4.15, which renders OpenAPI 3.0 only and refuses the 3.1 document
FastAPI writes ("does not specify a valid version field"). So the page reads
``/docs/openapi-3.0.json``: the same document said in 3.0 words (``anyOf [X, null]`` →
``X`` with ``nullable: true``, a schema's ``examples`` list → ``example``). ``/openapi.json``
stays the 3.1 original for clients and code generators. ReDoc is not served (its script would
come from a CDN).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"
OPENAPI_30 = "/docs/openapi-3.0.json"


def install(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from local assets. Build the app with ``docs_url=None``
    and ``redoc_url=None``."""
    oauth2_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    spec_30: dict[str, Any] = {}

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_30,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=oauth2_redirect,
            # no badge fetched from validator.swagger.io, whatever host serves the page
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(OPENAPI_30, include_in_schema=False)
    async def openapi_30() -> JSONResponse:
        if not spec_30:
            spec_30.update(as_openapi_30(app.openapi()))
        return JSONResponse(spec_30)

    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui-assets")


def as_openapi_30(spec: dict[str, Any]) -> dict[str, Any]:
    """The 3.1 document in the 3.0 words Swagger UI 4 reads (a copy; the original is kept)."""
    out = copy.deepcopy(spec)
    out["openapi"] = "3.0.3"
    _schemas_30(out)
    return out


def _schemas_30(node: Any, in_schema: bool = False) -> None:
    if isinstance(node, list):
        for item in node:
            _schemas_30(item, in_schema)
        return
    if not isinstance(node, dict):
        return
    any_of = node.get("anyOf")
    if isinstance(any_of, list) and {"type": "null"} in any_of:
        rest = [s for s in any_of if s != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            node.update({k: v for k, v in rest[0].items() if k not in node})
        elif len(rest) == 1:  # 3.0 ignores siblings of $ref: wrap it
            node["allOf"] = rest
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    if in_schema and isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples:
            node.setdefault("example", examples[0])
    for key, value in node.items():
        # "schema"/"schemas"/"properties"... hold schemas; a parameter's "examples" is a map.
        child_is_schema = in_schema or key in ("schema", "schemas")
        _schemas_30(value, child_is_schema)
