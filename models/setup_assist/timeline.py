"""A Setup Assist project's timeline as a PNG (matplotlib, Agg backend: no display): one row
per phase, the planned span as a light bar and the actual span as a solid bar over it
(red when late), weekends and public holidays of the location's country shaded, "today"
as a line, information requests as markers on their due day. Pure: status in, bytes out.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from models.setup_assist.contract import BusinessCalendar, ProjectStatus


def render_png(
    status: ProjectStatus | dict[str, Any], calendar: BusinessCalendar | None = None
) -> bytes:
    """The timeline of ``status`` (a ``ProjectStatus`` or its JSON) as PNG bytes; the
    location country's calendar from ``holidays`` unless given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    st = status if isinstance(status, ProjectStatus) else ProjectStatus.model_validate(status)
    phases = st.phases
    today = st.today
    first = min([st.submitted_on, *(p.planned_start for p in phases)])
    last = max(
        [
            today,
            st.completion_date,
            *(p.planned_end for p in phases),
            *(p.ended_on for p in phases if p.ended_on),
            *(r.due_on for r in st.info_requests),
        ]
    )
    fig = Figure(figsize=(11, 1.2 + 0.55 * len(phases)), dpi=100)
    ax = fig.add_subplot()

    if calendar is None:
        from models.setup_assist import rules

        try:
            calendar = BusinessCalendar.of(
                rules.calendar_for(st.country, range(first.year, last.year + 1))
            )
        except rules.UnknownCountry:
            calendar = BusinessCalendar(country=st.country, weekend=[5, 6])
    weekend = set(calendar.weekend)
    holidays = set(calendar.holidays)
    d = first
    while d <= last + timedelta(days=1):
        if d.weekday() in weekend or d in holidays:
            ax.axvspan(_num(d), _num(d + timedelta(days=1)), color="#eeeeee", zorder=0, lw=0)
        d += timedelta(days=1)

    for i, ph in enumerate(phases):
        y = len(phases) - 1 - i
        span = (ph.planned_end - ph.planned_start).days + 1
        ax.barh(y, span, left=_num(ph.planned_start), height=0.7, color="#c6dbef", zorder=1)
        if ph.started_on is not None:
            end = ph.ended_on or today
            color = "#d62728" if ph.late else ("#2ca02c" if ph.ended_on else "#1f77b4")
            ax.barh(
                y,
                (end - ph.started_on).days + 1,
                left=_num(ph.started_on),
                height=0.35,
                color=color,
                zorder=2,
            )
        open_tasks = sum(1 for t in ph.tasks if t.done_on is None)
        if ph.started_on is not None and ph.ended_on is None and open_tasks:
            ax.text(
                _num(ph.planned_end + timedelta(days=1)),
                y,
                f" {open_tasks} open",
                va="center",
                fontsize=8,
            )
    for r in st.info_requests:
        marker = "v" if r.answered_on else "X"
        ax.plot(
            [_num(r.due_on) + 0.5], [len(phases) - 0.3], marker=marker, color="#ff7f0e", zorder=3
        )
    ax.axvline(_num(today), color="black", lw=1, ls="--", zorder=3)
    ax.set_yticks(range(len(phases)))
    ax.set_yticklabels([f"{p.number}. {p.name}" for p in reversed(phases)], fontsize=9)
    ax.set_xlim(_num(first), _num(last + timedelta(days=2)))
    ax.set_ylim(-0.7, len(phases) - 0.1)
    ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    late = f" · late: phases {', '.join(map(str, st.late_phases))}" if st.late_phases else ""
    ax.set_title(
        f"Setup Assist {st.flow} · location {st.location_id} · {st.seats} seats · "
        f"{st.country} · {st.state}{late}",
        fontsize=10,
    )
    ax.legend(
        handles=[
            Patch(color="#c6dbef", label="planned"),
            Patch(color="#2ca02c", label="done"),
            Patch(color="#1f77b4", label="in progress"),
            Patch(color="#d62728", label="late"),
            Patch(color="#eeeeee", label="weekend / holiday"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        fontsize=7,
        ncol=5,
        frameon=False,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _num(d: date) -> float:
    import matplotlib.dates as mdates

    return float(mdates.date2num(d))
