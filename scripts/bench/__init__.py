"""The bench: what a lifecycle costs, measured against its no-op twin on one stack.

    python -m scripts.bench trials    [-n 100] [-c 50] [--day-seconds 0.02] [--png F] [--profile]
    python -m scripts.bench devices   ...
    python -m scripts.bench wholesale ...
    python -m scripts.bench billing   [--subscribers 10000] [--days 100]

For a lifecycle it starts an embedded PostgreSQL and a Temporal dev server of its own, runs
N real lifecycles (a worker process of the project) on a calendar where the timers fire
(one day = ``--day-seconds``), then N runs of ``BenchShape``: the same activities, timers,
search-attribute updates and messages, read from a real run's history, with activities that
do nothing (a worker process of its own). It prints the CPU of the worker, the Temporal
server and PostgreSQL per lifecycle, the state transitions, events, activities, timers,
search-attribute updates and payload bytes of each history, peak RSS, and the ratios
real / no-op. Absolute figures depend on the machine and whatever else runs on it; the
ratios, measured side by side in one run, are the figures to compare. ``--png`` adds a
sweep of 1, 10, 50 and 100 lifecycles in flight and draws throughput and p99 latency.
"""
