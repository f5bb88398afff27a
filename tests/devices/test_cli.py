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
    """Each command exists and takes --json (what each rule decides is tested with the
    workflow: test_shipments, test_returns, test_extensions)."""
    runner = CliRunner()
    for command in COMMANDS:
        result = runner.invoke(app, ["devices", command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "--json" in result.output, command


def test_cli_refuses_unknown_device_type_before_sending():
    """`devices ship` with a device type that does not exist exits 2, naming the field,
    before anything is sent (no Temporal is running here)."""
    result = CliRunner().invoke(
        app,
        "devices ship t1 --type fridge --model M --serial S1 --country US".split(),
    )
    assert result.exit_code == 2
    assert "device_type" in result.output


def test_cli_refuses_an_oversized_shipment_before_sending():
    """A shipment of more than 1000 devices of one type is refused at the contract, naming
    ``quantity``; nothing is sent."""
    serials = [arg for i in range(1001) for arg in ("--serial", f"S{i}")]
    result = CliRunner().invoke(
        app,
        ["devices", "ship", "t1", "--type", "phone", "--model", "M", "--country", "US", *serials],
    )
    assert result.exit_code == 2
    assert "quantity" in result.output and "1000" in result.output
