"""The no-op twin of a lifecycle: its shape read from a real run's history, replayed by a
workflow whose activities do nothing.

``script(history)`` turns the commands of a closed workflow into steps, in order: the patch
markers, the search-attribute updates, the activities (by workflow task: those scheduled
together run together, with inputs and results of the same sizes), the timers (a timer the
real run cancelled becomes a wait for the next update or signal, bounded by the timer) and
the updates and signals it received. ``BenchShape`` runs such a script on a worker of its
own (``noop_activity`` answers every activity name), so the real run and its twin issue the
same commands and the difference between them is the work of the lifecycle's own code and
its database: the shapes cannot drift, as the twin is derived from the real history.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RawValue, SearchAttributeKey, SearchAttributeUpdate

Step = dict[str, Any]


def _payload_bytes(payloads: Any) -> int:
    return sum(len(p.data) for p in payloads.payloads) if payloads else 0


def _summary(e: Any) -> str | None:
    """An event's summary (user metadata), as the real run set it (a JSON string)."""
    if not e.HasField("user_metadata") or not e.user_metadata.HasField("summary"):
        return None
    return str(json.loads(e.user_metadata.summary.data))


def _attributes(fields: Any) -> tuple[dict[str, Any], dict[str, str]]:
    values = {
        k: (json.loads(v.data) if v.data else None)
        for k, v in fields.indexed_fields.items()
        if k != "TemporalChangeVersion"  # the patch marker's own, issued with it
    }
    types = {
        k: v.metadata.get("type", b"").decode()
        for k, v in fields.indexed_fields.items()
        if k in values
    }
    return values, types


def script(events: Sequence[Any]) -> list[Step]:
    """The steps of a closed workflow's history (``temporalio.api.history.v1.HistoryEvent``)."""
    from temporalio.api.enums.v1 import EventType as E

    steps: list[Step] = []
    cancelled = {
        e.timer_canceled_event_attributes.timer_id
        for e in events
        if e.event_type == E.EVENT_TYPE_TIMER_CANCELED
    }
    results: dict[int, int] = {}
    for e in events:
        if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            a = e.activity_task_completed_event_attributes
            results[a.scheduled_event_id] = _payload_bytes(a.result)
    by_task: dict[int, Step] = {}  # the activities of one workflow task run together
    for e in events:
        t = e.event_type
        if t == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            a = e.workflow_execution_started_event_attributes
            values, types = _attributes(a.search_attributes)
            steps.append({"k": "start", "values": values, "types": types, "summary": _summary(e)})
        elif t == E.EVENT_TYPE_MARKER_RECORDED:
            a = e.marker_recorded_event_attributes
            if a.marker_name == "core_patch":
                data = json.loads(a.details["patch-data"].payloads[0].data)
                steps.append({"k": "patch", "id": data["id"]})
        elif t == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            values, types = _attributes(fields)
            if values:
                steps.append({"k": "upsert", "values": values, "types": types})
        elif t == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            one = {
                "name": a.activity_type.name,
                "in": _payload_bytes(a.input),
                "out": results.get(e.event_id, 0),
                "timeout": a.start_to_close_timeout.ToTimedelta().total_seconds() or 60.0,
                "heartbeat": a.heartbeat_timeout.ToTimedelta().total_seconds() or None,
                "summary": _summary(e),
            }
            task = a.workflow_task_completed_event_id
            if task in by_task:
                by_task[task]["acts"].append(one)
            else:
                by_task[task] = {"k": "acts", "acts": [one]}
                steps.append(by_task[task])
        elif t == E.EVENT_TYPE_TIMER_STARTED:
            a = e.timer_started_event_attributes
            seconds = a.start_to_fire_timeout.ToTimedelta().total_seconds()
            kind = "wait" if a.timer_id in cancelled else "timer"
            steps.append({"k": kind, "seconds": seconds, "summary": _summary(e)})
        elif t == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            a = e.workflow_execution_update_accepted_event_attributes
            steps.append({"k": "poke", "kind": "update", "name": a.accepted_request.input.name})
        elif t == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            a = e.workflow_execution_signaled_event_attributes
            steps.append({"k": "poke", "kind": "signal", "name": a.signal_name})
    return steps


def pokes(steps: Sequence[Step]) -> list[tuple[str, str]]:
    """The updates and signals a twin must be sent, in order: (kind, name)."""
    return [(s["kind"], s["name"]) for s in steps if s["k"] == "poke"]


def counts(steps: Sequence[Step]) -> dict[str, int]:
    return {
        "activities": sum(len(s["acts"]) for s in steps if s["k"] == "acts"),
        "timers": sum(s["k"] in ("timer", "wait") for s in steps),
        "upserts": sum(s["k"] == "upsert" for s in steps),
        "pokes": sum(s["k"] == "poke" for s in steps),
    }


_KEYS: dict[str, Callable[[str], Any]] = {
    "Keyword": SearchAttributeKey.for_keyword,
    "Datetime": SearchAttributeKey.for_datetime,
    "KeywordList": SearchAttributeKey.for_keyword_list,
    "Int": SearchAttributeKey.for_int,
    "Text": SearchAttributeKey.for_text,
    "Bool": SearchAttributeKey.for_bool,
    "Double": SearchAttributeKey.for_float,
}


@activity.defn(dynamic=True)
async def noop_activity(args: Sequence[RawValue]) -> str:
    """Any activity name: does nothing, answers a result of the real one's size."""
    size = int(activity.payload_converter().from_payload(args[0].payload, str)[:12] or 0)
    return "r" * max(0, size - 2)  # a JSON string: two quotes


@workflow.defn(name="BenchShape")
class BenchShape:
    """Runs a script from ``script``: the real lifecycle's commands, with no-op activities."""

    def __init__(self) -> None:
        self.poked = 0

    @workflow.signal(dynamic=True)
    def any_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self.poked += 1

    @workflow.update(dynamic=True)
    def any_update(self, name: str, args: Sequence[RawValue]) -> str:
        self.poked += 1
        return "ok"

    def _poked(self, n: int) -> Callable[[], bool]:
        return lambda: self.poked >= n

    @workflow.run
    async def run(self, steps: list[Step]) -> str:
        seen = 0
        for s in steps:
            k = s["k"]
            if k == "patch":
                workflow.patched(s["id"])
            elif k == "upsert":
                workflow.upsert_search_attributes(_updates(s))
            elif k == "acts":
                await asyncio.gather(*(_act(a) for a in s["acts"]))
            elif k == "timer":
                await workflow.sleep(s["seconds"], summary=s.get("summary"))
            elif k == "wait":
                try:
                    await workflow.wait_condition(
                        self._poked(seen + 1),
                        timeout=s["seconds"],
                        timeout_summary=s.get("summary"),
                    )
                except TimeoutError:
                    pass
            elif k == "poke":
                seen += 1
                await workflow.wait_condition(self._poked(seen))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "done"


def start_options(steps: Sequence[Step]) -> dict[str, Any]:
    """``start_workflow`` keywords of the twin: the real run's search attributes at start
    and its static summary."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    start = next((s for s in steps if s["k"] == "start"), None)
    if start is None:
        return {}
    pairs = [SearchAttributePair(u.key, u.value) for u in _updates(start) if u.value is not None]
    return {
        "search_attributes": TypedSearchAttributes(pairs),
        "static_summary": start["summary"],
    }


def _updates(s: Step) -> list[SearchAttributeUpdate[Any]]:
    """The same attributes set (or unset) as the real run did."""
    out: list[SearchAttributeUpdate[Any]] = []
    for name, value in s["values"].items():
        kind = s["types"].get(name, "Keyword")
        key: Any = _KEYS.get(kind, SearchAttributeKey.for_keyword)(name)
        if value is None:
            out.append(key.value_unset())
        elif kind == "Datetime":
            out.append(key.value_set(datetime.fromisoformat(value)))
        else:
            out.append(key.value_set(value))
    return out


async def _act(a: Step) -> None:
    # The input is a JSON string of the real input's size; it starts with the result size.
    size = max(0, a["in"] - 2)
    head = str(a["out"]).ljust(12)
    await workflow.execute_activity(
        a["name"],
        (head + "i" * size)[: max(size, 12)],
        start_to_close_timeout=timedelta(seconds=a["timeout"]),
        heartbeat_timeout=timedelta(seconds=a["heartbeat"]) if a["heartbeat"] else None,
        result_type=str,
        summary=a.get("summary"),
    )
