"""Schemathesis (property-based, from the app's own OpenAPI) finds no 500 in the API.

The app is served by uvicorn in this test's event loop (with the time-skipping server's
client, a worker and a real PostgreSQL database); `st run` drives it from a subprocess with
a bounded number of examples per operation.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app

MAX_EXAMPLES = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_schemathesis_finds_no_server_error(
    tmp_path, wh, env, db, database_url, mailer, task_queue, wh_settings
):
    """Every operation, fuzzed with bounded examples: never a 500."""
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    cid = await wh.customer(wait_for=("provisioned",))
    await wh.subscriber(cid)
    app = create_app(
        wh_settings, database_url, client=env.client, db=db, mailer=mailer, task_queue=task_queue
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        proc = await asyncio.create_subprocess_exec(
            st,
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--header",
            f"Authorization: Bearer {wh.tokens['partner']}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--phases",
            "examples,coverage,fuzzing",
            "--generation-deterministic",
            # One worker: with two, hypothesis's ast.parse of filter lambdas ran in two
            # threads at once and CPython 3.11.7 raised "SystemError: AST constructor
            # recursion depth mismatch" (see cpython gh-106905) inside schemathesis, which
            # failed CI for a reason that is not the API's.
            "--workers",
            "1",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,  # its cache (.schemathesis/) stays out of the repository
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        server.should_exit = True
        await serving
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
