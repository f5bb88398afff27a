"""`lifecycles billing ...`: the backfill close and the report commands, with --json, against
a real database; refusals exit 2 naming the rule."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scripts.cli.main import app
from workers.settings import get_settings


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("LIFECYCLES_DATABASE_URL", database_url)
    monkeypatch.setenv("LIFECYCLES_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_billing_commands_take_json() -> None:
    runner = CliRunner()
    for command in (
        ["close"],
        *[["report", c] for c in ("create", "get", "list", "delete", "download")],
    ):
        result = runner.invoke(app, ["billing", *command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "--json" in result.output, command


def test_wh_b1_cli_close_backfills_a_range_and_refuses_today(cli_db: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, "billing close --from 2026-01-01 --to 2026-01-03 --json".split())
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["days"] == 3
    result = runner.invoke(app, "billing close --from 2026-01-01 --to 2999-01-01".split())
    assert result.exit_code == 2 and "WH-B1" in result.output


def test_wh_b2_cli_create_refuses_a_period_including_today(cli_db: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, "billing report create --partner p-x --from 2026-01-01 --to 2999-01-01".split()
    )
    assert result.exit_code == 2 and "WH-B2" in result.output
    listed = runner.invoke(app, "billing report list --json".split())
    assert listed.exit_code == 0 and json.loads(listed.output) == []
    missing = runner.invoke(app, "billing report get nope".split())
    assert missing.exit_code == 1 and "no billing report" in missing.output
