"""docker-compose.yml and the Dockerfile, checked offline (no Docker engine needed).

The compose file is validated against the Compose specification's JSON schema that
check-jsonschema ships (``vendor.compose-spec``), then read for what the deployment relies on:
workers that scale, the order of start, and the search attributes of the code.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML  # pinned in the dev extra
from temporalio.api.enums.v1 import IndexedValueType

from workflows.search_attributes import ALL

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = ("migrate", "worker", "api")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return YAML(typ="safe").load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _seconds(duration: str) -> float:
    """A Compose duration such as ``1m30s`` or ``45s``."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_matches_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    assert checker.exists(), f"{checker} missing: install the dev extra (make install)"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_worker_scales(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker, "a host port would stop `--scale worker=N`"
    assert _command(worker) == ["lifecycles", "worker"]
    env = worker["environment"]
    assert env["LIFECYCLES_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["LIFECYCLES_METRICS_BIND"] == "0.0.0.0:9464"
    assert env["LIFECYCLES_LOG_FORMAT"] == "json"
    assert env["LIFECYCLES_DATABASE_URL"].startswith("postgresql://")
    assert env["LIFECYCLES_DATABASE_URL"].endswith("@postgresql:5432/lifecycles")


def test_worker_is_built_from_the_dockerfile(services: dict[str, Any]) -> None:
    build = services["worker"]["build"]
    context = ROOT / (build if isinstance(build, str) else build["context"])
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (context / dockerfile).resolve() == DOCKERFILE
    assert DOCKERFILE.is_file()


def test_worker_stops_after_its_graceful_shutdown(services: dict[str, Any]) -> None:
    worker = services["worker"]
    grace = float(worker["environment"]["LIFECYCLES_GRACEFUL_SHUTDOWN_SECONDS"])
    assert _seconds(worker["stop_grace_period"]) > grace


def test_start_order(services: dict[str, Any]) -> None:
    for name in ("worker", "api"):
        depends = services[name]["depends_on"]
        assert depends["temporal"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["temporal-create-namespace"]["condition"] == (
            "service_completed_successfully"
        ), name
    assert _command(services["migrate"]) == ["lifecycles", "db", "upgrade"]
    assert _command(services["api"]) == ["lifecycles", "api"]
    assert "8000:8000" in [str(p) for p in services["api"]["ports"]]
    assert "8233:8080" in [str(p) for p in services["temporal-ui"]["ports"]]
    for name in APP_SERVICES:
        assert services[name]["image"] == services["worker"]["image"], name


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), (name, image)


def _type_name(value_type: int) -> str:
    """``INDEXED_VALUE_TYPE_KEYWORD_LIST`` -> ``KeywordList``, as the temporal CLI spells it."""
    suffix = IndexedValueType.Name(IndexedValueType.ValueType(value_type)).removeprefix(
        "INDEXED_VALUE_TYPE_"
    )
    return "".join(part.capitalize() for part in suffix.split("_"))


def test_search_attributes_are_those_of_the_code(services: dict[str, Any]) -> None:
    job = services["temporal-create-namespace"]
    assert "temporal operator search-attribute create" in " ".join(_command(job))
    assert job["environment"]["NAMESPACE"] == "default"
    pairs = [item.split(":") for item in job["environment"]["SEARCH_ATTRIBUTES"].split()]
    registered = {name: type_ for name, type_ in pairs}
    assert len(registered) == len(pairs), "an attribute is listed twice"
    assert registered == {key.name: _type_name(key.indexed_value_type) for key in ALL}


def test_dockerfile_runs_the_worker_as_non_root() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0].startswith("FROM python:3.11-slim")
    cmd = [line for line in instructions if line.startswith("CMD ")]
    assert cmd, "the Dockerfile has no CMD"
    assert json.loads(cmd[-1].removeprefix("CMD ")) == ["lifecycles", "worker"]
    user = [line for line in instructions if line.startswith("USER ")]
    assert user and user[-1].split()[1].split(":")[0] not in ("root", "0")
    assert any(line.startswith("RUN pip install") for line in instructions)
