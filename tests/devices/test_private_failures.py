"""A device step that fails for good with a SQL error quoting personal data: the failure
the lifecycle shows, the one its history keeps and the worker's log carry none of it
(issue 9, item 10)."""

from __future__ import annotations

import json
import logging

from sqlalchemy.exc import IntegrityError
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError

from models.devices import store as device_store
from models.devices.contract import ReturnRequest
from tests.test_failures import COMPANY, EMAIL
from workers.logging import configure_logging
from workflows.devices.workflow import DeviceTrial


async def test_failure_details_and_worker_log_carry_no_personal_data(
    devices, run_worker, capfd, monkeypatch
):
    """A device step fails for good with a SQL error quoting an email and a company name:
    the lifecycle waits in `error` with the failure named, and neither its `failure`, the
    failure recorded in its history nor any line of the worker's log holds them."""
    configure_logging("json", "INFO")
    try:
        async with run_worker():
            _, dh, _ = await devices.start()
            await devices.ship(dh, "phone", 2)

            sql_error = IntegrityError(
                "INSERT INTO device (serial, owner) VALUES (%(serial)s, %(owner)s)",
                {"serial": "PH0001", "owner": f"{COMPANY} <{EMAIL}>"},
                Exception(
                    'duplicate key value violates unique constraint "device_pkey"\n'
                    f"DETAIL:  Key (owner)=({COMPANY} <{EMAIL}>) already exists."
                ),
            )

            async def broken(*args, **kwargs):
                # a store that let the SQL text into a failure that cannot heal
                raise ApplicationError(str(sql_error), type="StoreRefused", non_retryable=True)

            monkeypatch.setattr(device_store, "record_device_changes", broken)
            back = await dh.execute_update(
                DeviceTrial.record_return,
                ReturnRequest(serials=["PH0001"], carrier="UPS", tracking="1Z-1"),
            )
            assert back.state == "error"
            st = await dh.query(DeviceTrial.status)
            assert st.failure is not None
            assert "device_pkey" in st.failure.message and "Key (owner)=(…)" in st.failure.message
            failures = [
                e.activity_task_failed_event_attributes.failure
                async for e in dh.fetch_history_events()
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
            ]
            assert failures
            await dh.terminate("test over")
    finally:
        logging.getLogger().handlers.clear()
    shown = [st.failure.message, *(f.message for f in failures)]
    shown += [f.stack_trace for f in failures] + [str(f.cause) for f in failures]
    for text in shown:
        assert EMAIL not in text and COMPANY not in text, text
    log = capfd.readouterr().err
    lines = [json.loads(ln) for ln in log.splitlines() if ln.startswith("{")]
    assert any("Completing activity as failed" in ln.get("event", "") for ln in lines)
    assert EMAIL not in log and COMPANY not in log
