"""The shared activity retry policy (workflows/common.py): bounded, and quick to notice a
healed dependency (issue 9, fault campaign)."""

from __future__ import annotations

from datetime import timedelta

from workflows.common import RETRY


def test_retry_notices_a_healed_database_quickly_and_outlasts_a_restart() -> None:
    """12 attempts, never more than 30 s apart (the campaign's PostgreSQL restart was
    noticed minutes late with 5-minute gaps), and the waits between them add up to more
    than two minutes, so a dependency down for a minute is ridden out, not turned into
    state ``error``."""
    assert RETRY.maximum_attempts == 12
    assert RETRY.maximum_interval is not None
    assert RETRY.maximum_interval <= timedelta(seconds=30)
    waits = [
        min(RETRY.initial_interval * RETRY.backoff_coefficient**i, RETRY.maximum_interval)
        for i in range(RETRY.maximum_attempts - 1)
    ]
    assert sum(waits, timedelta()) >= timedelta(minutes=2)
    assert "RuleViolation" in (RETRY.non_retryable_error_types or [])
