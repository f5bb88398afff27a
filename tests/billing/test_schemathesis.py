"""Schemathesis over the billing endpoints finds no server error: once from Cisco's own
Webex Wholesale spec (its ``/wholesale/billing/reports`` operations against our ``/v1``), once
from this app's OpenAPI (which adds the signed download route). One worker, bounded examples
(see tests/wholesale/test_schemathesis.py for why)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from pathlib import Path

import pytest
import uvicorn

from tests.billing.conftest import Billing

pytestmark = pytest.mark.long  # started first (tests/conftest.py): off the tail

CISCO_SPEC = Path("/work/shared/reference/webex-wholesale.openapi.json")
MAX_EXAMPLES = 15


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _st(st: str, cwd: Path, token: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        st,
        "run",
        *args,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        # no 500; a method a path does not serve is a 405 naming those it does (`Allow`)
        "not_a_server_error,unsupported_method",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--generation-deterministic",
        "--workers",
        "1",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    return proc.returncode or 0, out.decode(errors="replace")


async def test_schemathesis_billing_endpoints_find_no_server_error(
    tmp_path: Path, bill: Billing
) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    done = await bill.report(billingStartDate="2026-02-01", billingEndDate="2026-02-28")
    assert done["status"] == "COMPLETED"
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(bill.app, host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        runs = [
            (
                "our OpenAPI",
                await _st(
                    st,
                    tmp_path,
                    bill.tokens["partner"],
                    f"{base}/openapi.json",
                    "--include-path-regex",
                    "/billing/",
                ),
            )
        ]
        if CISCO_SPEC.exists():
            runs.append(
                (
                    "Cisco's spec",
                    await _st(
                        st,
                        tmp_path,
                        bill.tokens["partner"],
                        str(CISCO_SPEC),
                        "--url",
                        f"{base}/v1",
                        "--include-path-regex",
                        "/billing/",
                    ),
                )
            )
    finally:
        server.should_exit = True
        await serving
    for name, (code, report) in runs:
        assert code == 0, f"{name}:\n{report[-6000:]}"
        assert "billing" in report, f"{name} ran no billing operation:\n{report[-3000:]}"
