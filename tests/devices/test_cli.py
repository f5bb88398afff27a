"""`lifecycles devices ...`: every command is there with --json; a malformed request is
refused before anything is sent (exit 2)."""

from __future__ import annotations

import asyncio
import json
import os
from subprocess import CompletedProcess

from typer.testing import CliRunner

from scripts.cli.main import app
from tests.cli_forks import lifecycles
from workflows.devices.workflow import DeviceTrial

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


def _lifecycles(env, database_url: str, task_queue: str, *args: str) -> CompletedProcess[str]:
    """The installed `lifecycles` command against the test's Temporal and database."""
    envvars = {
        **os.environ,
        "LIFECYCLES_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "LIFECYCLES_DATABASE_URL": database_url,
        "LIFECYCLES_TASK_QUEUE": task_queue,
    }
    return lifecycles(list(args), env=envvars, timeout=120)  # a process of its own, forked


async def test_cli_ships_queries_and_hears_refusals(devices, run_worker, env, database_url):
    """The CLI talks to the DeviceTrial workflow through its typed update and query methods:
    `devices ship` records 2 phones (exit 0, the update's answer printed), `devices status
    --json` is the `status` query, and a second phone shipment is refused by the workflow's
    validator naming TR-S4 (exit 2) with nothing changed; a return of an unknown serial is
    refused naming DV-2."""
    async with run_worker():
        _, dh, tid = await devices.start()

        def cli(*args: str) -> CompletedProcess[str]:
            return _lifecycles(env, database_url, devices.world.task_queue, "devices", *args)

        ship = ["ship", tid, "--type", "phone", "--model", "Cisco 9861", "--country", "US"]
        ok = await asyncio.to_thread(cli, *ship, "--serial", "PH1", "--serial", "PH2")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith("in_trial: 2 x Cisco 9861 shipped to US; returns by UPS")

        st = await asyncio.to_thread(cli, "status", tid, "--json")
        assert st.returncode == 0, st.stderr
        status = json.loads(st.stdout)
        assert status["state"] == "in_trial"
        assert sorted(d["serial"] for d in status["devices"]) == ["PH1", "PH2"]

        again = await asyncio.to_thread(cli, *ship, "--serial", "PH3")
        assert again.returncode == 2
        assert "refused: TR-S4 (device_type)" in again.stderr

        back = await asyncio.to_thread(
            cli, "return", tid, "--serial", "NOPE", "--carrier", "UPS", "--tracking", "1Z"
        )
        assert back.returncode == 2
        assert "refused: DV-2 (serials)" in back.stderr

        after = await dh.query(DeviceTrial.status)
        assert [d.serial for d in after.devices] == ["PH1", "PH2"]
        assert all(d.state == "shipped" for d in after.devices)
