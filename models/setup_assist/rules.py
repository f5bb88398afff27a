"""Setup Assist rules as pure functions (no I/O): business days of a country (WH-A2, WH-A4,
WH-A6), the flow of a location (WH-A1, WH-A7), the phase plan, the charge (WH-A5), and the
project clock that turns calendar dates into workflow instants.

Business days
-------------
A business day is a date that is neither one of the country's weekend days nor one of its
public holidays. Both come from the ``holidays`` package: ``country_holidays(cc).weekend``
is the country's own weekend (Friday and Saturday in Saudi Arabia, Friday only in Iran,
Saturday and Sunday in most others). ``calendar_for`` snapshots them once, when a project is
submitted, into a ``BusinessCalendar`` (dates, not the library) that travels in the
workflow's input: the workflow counts business days with the pure functions below and never
imports ``holidays``, and a later release of the library never changes a running project.

The project clock (LIFECYCLES_DAY_SECONDS)
------------------------------------------
A business-day deadline is first computed as a calendar date (``add_business_days``), then
converted to a workflow instant by ``ProjectClock.at(date)``: the instant at which that
date begins in the project's time, ``anchor_at + (date - anchor_date) x day_seconds``. The
anchor is the workflow's start: ``anchor_date`` is the submission date (UTC) and
``anchor_at`` is the start instant moved back by the part of that date already gone, scaled
by ``day_seconds / 86400``. With real days (86400) every date therefore begins at 00:00 UTC;
with ``LIFECYCLES_DAY_SECONDS=60`` a calendar day lasts one minute, so a weekend lasts two
minutes and a Standard project runs in minutes, and the same dates come out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

# Countries whose weekend is not Saturday and Sunday, for a ``holidays`` release that does not
# expose ``weekend`` (0.109 does; this is only the fallback, checked against the library by
# tests/setup_assist/test_rules.py). Monday = 0 ... Sunday = 6.
FALLBACK_WEEKENDS: dict[str, frozenset[int]] = {
    "AF": frozenset({4, 5}),  # Friday, Saturday
    "BH": frozenset({4, 5}),
    "DZ": frozenset({4, 5}),
    "EG": frozenset({4, 5}),
    "IL": frozenset({4, 5}),
    "IQ": frozenset({4, 5}),
    "IR": frozenset({4}),  # Friday only
    "JO": frozenset({4, 5}),
    "KW": frozenset({4, 5}),
    "OM": frozenset({4, 5}),
    "QA": frozenset({4, 5}),
    "SA": frozenset({4, 5}),
    "SY": frozenset({4, 5}),
    "YE": frozenset({4, 5}),
}
SAT_SUN: frozenset[int] = frozenset({5, 6})
EXPRESS = "express"
STANDARD = "standard"


class UnknownCountry(ValueError):
    """The ``holidays`` package has no calendar for this country."""


@dataclass(frozen=True)
class Calendar:
    """Non-business days of one country: its weekend days and its public holidays."""

    country: str
    weekend: frozenset[int]
    holidays: frozenset[date]

    def is_business_day(self, d: date) -> bool:
        return d.weekday() not in self.weekend and d not in self.holidays


def country_weekend(country: str) -> frozenset[int]:
    """The country's weekend days (Monday = 0), from ``holidays`` (fallback: the table)."""
    import holidays

    try:
        cal = holidays.country_holidays(country.upper())
    except NotImplementedError as err:
        raise UnknownCountry(country) from err
    weekend = getattr(cal, "weekend", None)
    if weekend:
        return frozenset(int(d) for d in weekend)
    return FALLBACK_WEEKENDS.get(country.upper(), SAT_SUN)


def calendar_for(country: str, years: Iterable[int]) -> Calendar:
    """The country's calendar for ``years``: weekend days and public holidays (observed
    days included) from the ``holidays`` package."""
    import holidays

    cc = country.upper()
    try:
        cal = holidays.country_holidays(cc, years=sorted(set(years)))
    except NotImplementedError as err:
        raise UnknownCountry(country) from err
    return Calendar(cc, country_weekend(cc), frozenset(cal.keys()))


def add_business_days(cal: Calendar, start: date, n: int) -> date:
    """The n-th business day after ``start`` (``start`` itself never counts; n = 0 is
    ``start``)."""
    d = start
    left = n
    while left > 0:
        d += timedelta(days=1)
        if cal.is_business_day(d):
            left -= 1
    return d


def business_days_between(cal: Calendar, start: date, end: date) -> int:
    """Business days d with start < d <= end (0 when end <= start)."""
    count = 0
    d = start
    while d < end:
        d += timedelta(days=1)
        if cal.is_business_day(d):
            count += 1
    return count


def earliest_completion(cal: Calendar, submitted_on: date, min_days: int) -> date:
    """WH-A2: the first completion date at least ``min_days`` business days after the
    submission date (submitted Monday with six: Tuesday of the next week, holidays aside)."""
    return add_business_days(cal, submitted_on, min_days)


def notice_ok(cal: Calendar, submitted_on: date, completion: date, min_days: int) -> bool:
    """WH-A2: is completion at least ``min_days`` business days away?"""
    return business_days_between(cal, submitted_on, completion) >= min_days


def flow_for(seats: int, express_max_seats: int = 5) -> str:
    """WH-A1: Express for a location of at most five seats, Standard above."""
    return EXPRESS if seats <= express_max_seats else STANDARD


def charge_quantity(flow: str, users: int) -> int:
    """WH-A5: Express is one per location (flat fee), Standard the location's users."""
    return 1 if flow == EXPRESS else users


def split_business_days(total: int, weights: list[int]) -> list[int]:
    """Share ``total`` business days among phases by weight, each phase at least one day
    (largest remainder, earlier phases first on ties). Sums to ``max(total, len(weights))``."""
    n = len(weights)
    total = max(total, n)
    spare = total - n
    wsum = sum(weights) or 1
    exact = [spare * w / wsum for w in weights]
    base = [math.floor(x) for x in exact]
    left = spare - sum(base)
    order = sorted(range(n), key=lambda i: (-(exact[i] - base[i]), i))
    for i in order[:left]:
        base[i] += 1
    return [1 + b for b in base]


def plan_phases(
    cal: Calendar,
    start: date,
    completion: date,
    weights: list[int],
    after: list[int],
) -> list[tuple[date, date]]:
    """Planned (start, end) dates of each phase. The phases weighted by ``weights`` share the
    business days from ``start`` to ``completion`` (their last one ends on ``completion``);
    the phases of ``after`` follow with a fixed number of business days each (Standard:
    five of post-migration support, then the hand-off)."""
    available = business_days_between(cal, start, completion)
    days = split_business_days(available, weights)
    out: list[tuple[date, date]] = []
    cursor = start
    for i, n in enumerate(days):
        begin = cursor if i == 0 else add_business_days(cal, cursor, 1)
        end = add_business_days(cal, cursor, n)
        out.append((begin, end))
        cursor = end
    for n in after:
        begin = add_business_days(cal, cursor, 1)
        end = add_business_days(cal, cursor, n)
        out.append((begin, end))
        cursor = end
    return out


@dataclass(frozen=True)
class ProjectClock:
    """Calendar dates to workflow instants and back (see the module's docstring)."""

    anchor_at: datetime
    anchor_date: date
    day_seconds: float

    @classmethod
    def starting(cls, now: datetime, on: date, day_seconds: float) -> ProjectClock:
        """The clock of a project that starts at instant ``now`` on date ``on``: ``on``
        began the (scaled) part of a day ago that ``now`` is past midnight."""
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        gone = (now - midnight).total_seconds() / 86400.0
        return cls(now - timedelta(seconds=gone * day_seconds), on, day_seconds)

    def at(self, d: date) -> datetime:
        """The instant at which date ``d`` begins."""
        return self.anchor_at + timedelta(seconds=(d - self.anchor_date).days * self.day_seconds)

    def date_of(self, t: datetime) -> date:
        """The date the instant ``t`` falls on."""
        elapsed = (t - self.anchor_at).total_seconds() / self.day_seconds
        return self.anchor_date + timedelta(days=math.floor(elapsed + 1e-9))
