"""``python -m scripts.bench <lifecycle>``: see scripts/bench/__init__.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from scripts.argtypes import above

PROCESSES = ("worker", "server", "postgres")
LABELS = {"worker": "worker", "server": "Temporal server", "postgres": "PostgreSQL"}


def _x(r: float | None) -> str:
    if r is None:
        return "–"
    return f"{r:.2f}×"


def table(res: Any) -> str:
    """The markdown table of one run: real, no-op, and their ratio."""
    from scripts.bench.measure import ratio, totals

    real, noop = res.real, res.noop
    rows: list[str] = []

    def row(label: str, a: float, b: float, fmt: str = "{:.1f}", show: bool = True) -> None:
        r = _x(ratio(a, b)) if show else ""
        rows.append(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {r} |")

    row("lifecycles/s", real.per_second, noop.per_second, "{:.2f}")
    row("p50 latency (s)", real.p(50), noop.p(50), "{:.2f}")
    row("p99 latency (s)", real.p(99), noop.p(99), "{:.2f}")
    for k in PROCESSES:
        row(f"CPU ms / lifecycle: {LABELS[k]}", 1000 * real.cpu[k], 1000 * noop.cpu[k])
    row(
        "**CPU ms / lifecycle: worker + server + PostgreSQL**",
        1000 * totals(real, PROCESSES),
        1000 * totals(noop, PROCESSES),
    )
    row("CPU ms / lifecycle: bench client (starter, API)", 1000 * real.cpu["client"],
        1000 * noop.cpu["client"])  # fmt: skip
    c, d = real.cost, noop.cost
    row("**state transitions**", c.transitions, d.transitions)
    row("history events", c.events, d.events)
    row("workflow tasks", c.workflow_tasks, d.workflow_tasks)
    row("activities", c.activities, d.activities)
    row("timers", c.timers, d.timers)
    row("search-attribute updates", c.upserts, d.upserts)
    row("payload bytes", c.payload_bytes, d.payload_bytes, "{:,.0f}")
    row("history bytes", c.history_bytes, d.history_bytes, "{:,.0f}")
    for k in PROCESSES:
        row(f"peak RSS MB: {LABELS[k]}", real.rss_mb[k], noop.rss_mb[k], "{:.0f}", False)
    head = (
        f"| {res.title}: N = {real.n}, ≤ {real.concurrency} in flight, 1 day = "
        f"{res.day_seconds * 1000:g} ms | real | no-op twin | real / no-op |"
    )
    lines = [head, "|---|---:|---:|---:|"]
    lines += rows
    lines.append("")
    lines += [f"- {line}" for line in res.checks]
    lines.append(f"- wall: real {real.wall:.1f} s, no-op {noop.wall:.1f} s")
    return "\n".join(lines)


def profile_table(res: Any) -> str:
    if not res.profile:
        return ""
    lines = [
        "| where the real worker's time goes (py-spy) | % of busy samples | % of all |",
        "|---|---:|---:|",
    ]
    lines += [f"| {what} | {busy:.1f} | {share:.1f} |" for what, busy, share in res.profile]
    return "\n".join(lines)


def draw(res: Any, out: Path) -> None:
    """Throughput and p99 latency against lifecycles in flight, real and no-op."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, style in (("real", "o-"), ("noop", "s--")):
        phases = res.sweep.get(kind, [])
        xs = [p.concurrency for p in phases]
        label = res.lifecycle if kind == "real" else f"{res.lifecycle}: no-op twin"
        a.plot(xs, [p.per_second for p in phases], style, label=label)
        b.plot(xs, [p.p(99) for p in phases], style, label=label)
    if res.calendar_seconds:
        b.axhline(res.calendar_seconds, color="grey", linestyle=":", label="the calendar itself")
    for ax, title in ((a, "throughput (lifecycles/s)"), (b, "p99 latency (s)")):
        ax.set_xscale("log")
        ax.set_xticks([1, 10, 50, 100], ["1", "10", "50", "100"])
        ax.set_xlabel("lifecycles in flight")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{res.title}, 1 day = {res.day_seconds * 1000:g} ms")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def to_json(res: Any) -> dict[str, Any]:
    from dataclasses import asdict

    def ph(p: Any) -> dict[str, Any]:
        return {
            "n": p.n,
            "concurrency": p.concurrency,
            "wall": p.wall,
            "per_second": p.per_second,
            "p50": p.p(50),
            "p99": p.p(99),
            "cpu": p.cpu,
            "rss_mb": p.rss_mb,
            "cost": asdict(p.cost),
        }

    return {
        "lifecycle": res.lifecycle,
        "day_seconds": res.day_seconds,
        "calendar_seconds": res.calendar_seconds,
        "real": ph(res.real),
        "noop": ph(res.noop),
        "shape": res.shape,
        "checks": res.checks,
        "sweep": {k: [ph(p) for p in v] for k, v in res.sweep.items()},
        "profile": res.profile,
    }


def main() -> None:
    from scripts import load_wholesale
    from scripts.bench import billing
    from scripts.bench.lifecycles import LIFECYCLES

    ap = argparse.ArgumentParser(
        prog="python -m scripts.bench",
        description=(sys.modules["scripts.bench"].__doc__ or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True)
    for name, cls in LIFECYCLES.items():
        p = sub.add_parser(name, help=cls.title)
        p.add_argument("-n", type=above(int, 0), default=100, help="lifecycles per phase (100)")
        p.add_argument("-c", "--concurrency", type=above(int, 0), default=50, help="in flight (50)")
        p.add_argument(
            "--day-seconds",
            type=above(float, 0),
            default=0.02,
            help="real seconds in a lifecycle day (0.02: a 30-day trial lasts 0.6 s)",
        )
        p.add_argument(
            "--rounds",
            type=above(int, 0),
            default=2,
            help="real and no-op alternate this many times",
        )
        p.add_argument("--png", type=Path, help="also sweep 1/10/50/100 in flight; draw here")
        p.add_argument("--profile", type=Path, help="py-spy the real worker (raw stacks here)")
        p.add_argument("--json", type=Path, help="write the figures here as JSON")
    b = sub.add_parser("billing", help="the USER billing report against the bare aggregate")
    billing.add_arguments(b)
    w = sub.add_parser(
        "wholesale-burst",
        help="customers x subscribers through the HTTP API against the engine's ceiling, "
        "in one run (scripts/load_wholesale.py)",
    )
    load_wholesale.add_arguments(w)
    args = ap.parse_args()
    if args.command == "wholesale-burst":
        load_wholesale.run(args)
        return
    if args.command == "billing":
        billing.run(args)
        return
    from scripts.bench.run import bench
    from workers.logging import configure_logging

    configure_logging("json", "WARNING")  # the starter's and the API's info lines

    async def guarded() -> Any:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        return await bench(
            args.command,
            args.n,
            args.concurrency,
            args.day_seconds,
            rounds=args.rounds,
            sweep=args.png is not None,
            profile=args.profile,
        )

    try:
        res = asyncio.run(guarded())
    except asyncio.CancelledError:
        print("interrupted; everything the bench started was stopped", file=sys.stderr)
        raise SystemExit(130) from None
    print(table(res))
    if res.profile:
        print()
        print(profile_table(res))
    if args.png:
        draw(res, args.png)
        print(f"\nwrote {args.png}")
    if args.json:
        args.json.write_text(json.dumps(to_json(res), indent=1, default=str))


if __name__ == "__main__":
    from scripts.bench.__main__ import main as _main
    from scripts.exits import run_then_exit

    run_then_exit(_main)
