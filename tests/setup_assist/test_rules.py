"""The business-day rules as pure functions, on hand-checked calendars (no workflow)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from models.setup_assist import rules
from models.setup_assist.contract import BusinessCalendar
from models.setup_assist.phases import EXPRESS_PHASES, STANDARD_PHASES


def cal(country: str, year: int = 2026) -> rules.Calendar:
    return rules.calendar_for(country, [year, year + 1])


def test_wh_a2_six_business_days_across_a_weekend() -> None:
    """WH-A2: submitted Friday 6 March 2026 (US): Mon 9 .. Fri 13 are five business days,
    so completion on Friday 13 is refused and Monday 16 is the earliest."""
    us = cal("US")
    fri = date(2026, 3, 6)
    assert rules.business_days_between(us, fri, date(2026, 3, 13)) == 5
    assert not rules.notice_ok(us, fri, date(2026, 3, 13), 6)
    assert not rules.notice_ok(us, fri, date(2026, 3, 15), 6)  # a Sunday adds nothing
    assert rules.notice_ok(us, fri, date(2026, 3, 16), 6)
    assert rules.earliest_completion(us, fri, 6) == date(2026, 3, 16)


def test_wh_a2_six_business_days_across_a_public_holiday_of_the_location_country() -> None:
    """WH-A2: submitted Thursday 2 April 2026. Germany keeps Good Friday (3 April) and
    Easter Monday (6 April): the earliest completion is Tuesday 14 April. The US keeps
    neither: Friday 10 April. Same request, different country, different answer."""
    de, us = cal("DE"), cal("US")
    thu = date(2026, 4, 2)
    assert date(2026, 4, 3) in de.holidays and date(2026, 4, 6) in de.holidays
    assert rules.earliest_completion(de, thu, 6) == date(2026, 4, 14)
    assert not rules.notice_ok(de, thu, date(2026, 4, 13), 6)
    assert rules.notice_ok(de, thu, date(2026, 4, 14), 6)
    assert rules.earliest_completion(us, thu, 6) == date(2026, 4, 10)


def test_wh_a2_country_whose_weekend_is_not_saturday_and_sunday() -> None:
    """WH-A2: Saudi Arabia's weekend is Friday and Saturday (from ``holidays``): submitted
    Thursday 1 October 2026, Sunday 4 is the first business day and Sunday 11 the sixth;
    in the US Friday 9 would already do."""
    sa, us = cal("SA"), cal("US")
    assert sa.weekend == frozenset({4, 5})
    thu = date(2026, 10, 1)
    assert sa.is_business_day(date(2026, 10, 4))  # a Sunday
    assert not sa.is_business_day(date(2026, 10, 2))  # a Friday
    assert rules.earliest_completion(sa, thu, 6) == date(2026, 10, 11)
    assert not rules.notice_ok(sa, thu, date(2026, 10, 9), 6)
    assert rules.notice_ok(us, thu, date(2026, 10, 9), 6)


def test_wh_a2_weekend_fallback_table_for_old_holidays_releases() -> None:
    """WH-A2: the documented fallback agrees with the library where both know the country."""
    for cc, days in rules.FALLBACK_WEEKENDS.items():
        try:
            assert rules.country_weekend(cc) == days, cc
        except rules.UnknownCountry:
            continue


def test_wh_a2_unknown_country_has_no_calendar() -> None:
    with pytest.raises(rules.UnknownCountry):
        rules.calendar_for("XX", [2026])


def test_wh_a4_information_due_in_two_business_days() -> None:
    """WH-A4: asked Thursday 5 March 2026 (US) → due Monday 9; asked Thursday 2 April in
    Germany → Good Friday and Easter Monday skipped: due Wednesday 8."""
    assert rules.add_business_days(cal("US"), date(2026, 3, 5), 2) == date(2026, 3, 9)
    assert rules.add_business_days(cal("DE"), date(2026, 4, 2), 2) == date(2026, 4, 8)
    assert rules.add_business_days(cal("SA"), date(2026, 10, 1), 2) == date(2026, 10, 5)


def test_wh_a6_support_runs_five_business_days_after_migration() -> None:
    """WH-A6: migrated Thursday 5 March 2026 (US) → support through Thursday 12 March."""
    assert rules.add_business_days(cal("US"), date(2026, 3, 5), 5) == date(2026, 3, 12)


@pytest.mark.parametrize(("seats", "flow"), [(1, "express"), (5, "express"), (6, "standard")])
def test_wh_a1_express_up_to_five_seats_standard_above(seats: int, flow: str) -> None:
    """WH-A1: Express for a location of at most five seats, Standard above."""
    assert rules.flow_for(seats) == flow


def test_wh_a5_charge_quantity() -> None:
    """WH-A5: Express 1 per location, Standard the location's users."""
    assert rules.charge_quantity("express", 4) == 1
    assert rules.charge_quantity("standard", 17) == 17


def test_wh_a3_phases_from_seed_002() -> None:
    """WH-A3: Express has 2 phases, Standard 8, each task owed by Cisco or the partner."""
    assert [p.number for p in EXPRESS_PHASES] == [1, 2]
    assert [p.number for p in STANDARD_PHASES] == list(range(1, 9))
    assert [p.name for p in STANDARD_PHASES][6:] == ["Post-onboarding", "Operational hand-off"]
    for p in (*EXPRESS_PHASES, *STANDARD_PHASES):
        assert p.tasks and all(t.owner in ("cisco", "partner") for t in p.tasks)
    ids = [t.id for p in STANDARD_PHASES for t in p.tasks]
    assert len(ids) == len(set(ids))
    assert next(t for t in EXPRESS_PHASES[1].tasks if t.kind == "customer_call").id == "2.c1"


def test_plan_shares_the_business_days_and_ends_on_completion() -> None:
    us = cal("US")
    plan = rules.plan_phases(
        us, date(2026, 3, 5), date(2026, 3, 20), [p.weight for p in STANDARD_PHASES][:6], [5, 1]
    )
    assert plan[0][0] == date(2026, 3, 5)
    assert plan[5][1] == date(2026, 3, 20)  # the migration is planned for the completion
    assert plan[6] == (date(2026, 3, 23), date(2026, 3, 27))  # five business days of support
    assert plan[7] == (date(2026, 3, 30), date(2026, 3, 30))
    for (_, end), (start, _) in itertools.pairwise(plan):
        assert start > end
    assert rules.split_business_days(3, [1, 1]) == [2, 1]
    assert sum(rules.split_business_days(20, [2, 2, 3, 2, 4, 2])) == 20


@pytest.mark.parametrize("day_seconds", [86400.0, 60.0])
def test_project_clock_compresses_business_days(day_seconds: float) -> None:
    """LIFECYCLES_DAY_SECONDS: a date begins ``(date - start) x day_seconds`` after the
    start's midnight; with real days that is 00:00 UTC."""
    now = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)
    clock = rules.ProjectClock.starting(now, date(2026, 3, 5), day_seconds)
    assert clock.date_of(now) == date(2026, 3, 5)
    assert clock.at(date(2026, 3, 9)) - clock.at(date(2026, 3, 5)) == timedelta(
        seconds=4 * day_seconds
    )
    assert clock.date_of(clock.at(date(2026, 3, 9))) == date(2026, 3, 9)
    assert clock.date_of(clock.at(date(2026, 3, 9)) - timedelta(seconds=1)) == date(2026, 3, 8)
    if day_seconds == 86400.0:
        assert clock.at(date(2026, 3, 9)) == datetime(2026, 3, 9, tzinfo=UTC)


def test_calendar_snapshot_round_trips() -> None:
    c = cal("SA")
    assert BusinessCalendar.of(c).rules() == c
