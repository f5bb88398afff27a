"""The remote codec endpoint (issue 9): the Temporal UI and the `temporal` CLI show encrypted
payloads decoded through it (UI: "Codec Server" setting, or ``--ui-codec-endpoint`` of the dev
server; CLI: ``--codec-endpoint`` / ``TEMPORAL_CODEC_ENDPOINT``).

``POST /codec/decode`` and ``POST /codec/encode`` take and answer ``{"payloads": [...]}``,
payloads in proto JSON (``metadata`` values and ``data`` base64). Mounted as its own small app
so that its CORS (the UI's origin, credentials and ``Authorization`` allowed) covers it alone.
With ``LIFECYCLES_CODEC_AUTH_TOKEN`` set, a request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from temporalio.api.common.v1 import Payload, Payloads

from workers.codec import CodecError, CodecSettings, codec_from
from workers.settings import Settings


def create(settings: Settings, codec_settings: CodecSettings | None = None) -> FastAPI:
    cs = codec_settings or CodecSettings()
    codec = codec_from(cs)
    token = cs.codec_auth_token.get_secret_value() if cs.codec_auth_token else None
    ui = [f"http://127.0.0.1:{settings.ui_port}", f"http://localhost:{settings.ui_port}"]
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(dict.fromkeys([*cs.codec_cors_origins, *ui])),
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )

    async def payloads(request: Request) -> Payloads:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise HTTPException(401, "codec endpoint: bearer token required")
        try:
            body: Any = await request.json()
            return Payloads(payloads=[_payload(p) for p in body.get("payloads") or []])
        except (ValueError, AttributeError, TypeError) as err:
            raise HTTPException(400, f"expected {{'payloads': [...]}}: {err}") from None

    def answer(out: list[Any]) -> JSONResponse:
        return JSONResponse({"payloads": [_json(p) for p in out]})

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        given = list((await payloads(request)).payloads)
        try:
            return answer(await codec.decode(given) if codec else given)
        except CodecError as err:
            raise HTTPException(422, str(err)) from None

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        given = list((await payloads(request)).payloads)
        return answer(await codec.encode(given) if codec else given)

    return app


def _payload(d: dict[str, Any]) -> Payload:
    """One payload of the remote codec protocol (protobuf JSON: base64 bytes) as a Payload."""
    meta = d.get("metadata") or {}
    return Payload(
        metadata={str(k): base64.b64decode(v, validate=True) for k, v in meta.items()},
        data=base64.b64decode(d.get("data") or "", validate=True),
    )


def _json(p: Payload) -> dict[str, Any]:
    out: dict[str, Any] = {
        "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()}
    }
    if p.data:
        out["data"] = base64.b64encode(p.data).decode()
    return out
