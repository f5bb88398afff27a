"""`lifecycles devices ...`: every command is there with --json; a malformed request is
refused before anything is sent (exit 2)."""

from __future__ import annotations

from typer.testing import CliRunner

from scripts.cli.main import app

COMMANDS = (
    "ship",
    "status",
    "return",
    "extend",
    "approve-extension",
    "reject-extension",
    "request-label",
    "overdue",
)


def test_devices_commands_take_json():
    """Surfaces of TR-S4, TR-D2, DV-2, DV-4: each command exists and takes --json."""
    runner = CliRunner()
    for command in COMMANDS:
        result = runner.invoke(app, ["devices", command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "--json" in result.output, command


def test_tr_s4_cli_refuses_unknown_device_type_before_sending():
    """TR-S4: `devices ship` with a device type that does not exist exits 2, naming it."""
    result = CliRunner().invoke(
        app,
        "devices ship t1 --type fridge --model M --serial S1 --country US".split(),
    )
    assert result.exit_code == 2
    assert "device_type" in result.output
