"""A lifecycle's past and planned deadlines with the notices sent on each (issue 15):
`lifecycles timeline ID` prints it, `--png` draws it.

The moments come from the lifecycle's read model (a trial: start, consent window, T-7, T,
the users' notice, grace end, numbers released; an order, a device trial, a wholesale
customer, a Setup Assist project, a migration: their own columns), plus the derived ones the
caller's policy gives (T-7 is the trial's end less ``expiry_notice_days``) and, where the
caller has it, the workflow's status query (a wholesale customer's approval deadlines live
only there). The notices are the outbox's rows of the lifecycle, each put on the latest
moment at or before its due time (a deadline's notices are due at the deadline itself).

A moment is ``done`` when it is before the lifecycle's next deadline (or the lifecycle has
none left), ``next`` when it is that deadline, ``planned`` after it, and ``void`` when the
lifecycle ended before it (a converted trial never expires). No clock is read: what is past
is what the lifecycle itself has passed, so a time-skipped test and a real one agree.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.tables import Notice
from models.devices.tables import DeviceTrialRow
from models.migration.tables import Migration
from models.orders.tables import OrderRecord
from models.setup_assist.tables import SetupAssistProject
from models.trials.tables import Trial
from models.wholesale.tables import WholesaleCustomer

Status = Literal["done", "next", "planned", "void"]
LIFECYCLES = ("trial", "devices", "order", "wholesale", "setup_assist", "migration")


class NoticeGroup(BaseModel):
    """The notices of one kind on one moment: how many, how many sent, to whom (the first
    few recipients; a services-ended notice goes to every user of the org)."""

    kind: str
    count: int
    sent: int
    recipients: list[str] = Field(default_factory=list)


class Moment(BaseModel):
    at: datetime
    kind: str
    label: str
    status: Status = "done"
    notices: list[NoticeGroup] = Field(default_factory=list)


class Timeline(BaseModel):
    lifecycle: str
    id: str
    workflow_id: str | None = None
    state: str
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    moments: list[Moment] = Field(default_factory=list)


class TrialCalendar(BaseModel):
    """The offsets a trial's derived moments need (workers/settings.py's trial policy)."""

    expiry_notice_days: float = 7
    user_notice_days: float = 30
    grace_days: float = 30
    day_seconds: float = 86400.0

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)


RECIPIENTS_SHOWN = 3

# --- what each lifecycle's read model holds: (column, kind, label) -----------------------

GRACE_ENDS = "grace ends: users to a free org (TR-E4)"
TRIAL = (
    ("created_at", "start", "trial requested"),
    ("consent_deadline_at", "consent_expires", "consent window closes (TR-C3)"),
    ("activated_at", "activated", "trial active: services on (TR-S5)"),
    ("ends_at", "trial_expires", "T: trial expires, grace begins (TR-E1, TR-E2)"),
    ("grace_ends_at", "grace_ends", GRACE_ENDS),
    ("numbers_release_at", "numbers_release", "retained numbers released (TR-E5)"),
    ("converted_at", "converted", "converted to paid (TR-D5)"),
    ("cancelled_at", "cancelled", "cancelled (TR-D4)"),
)
DEVICES = (
    ("created_at", "start", "device trial opened"),
    ("first_shipped_at", "shipped", "first devices shipped"),
    ("expires_at", "devices_expire", "device trial expires (TR-D2)"),
    ("return_due_at", "return_due", "devices due back (DV-1)"),
    ("overdue_at", "overdue", "returns overdue: escalated (DV-1)"),
    ("converted_at", "converted", "converted: devices kept"),
    ("cancelled_at", "cancelled", "cancelled"),
    ("returned_at", "returned", "every device returned"),
)
ORDER = (
    ("created_at", "received", "order received (SO-1)"),
    ("email_sent_at", "setup_email", "set-up email sent (SO-2)"),
    ("rep_alerted_at", "rep_alerted", "account rep alerted"),
    ("setup_started_at", "setup_started", "set-up started (SO-3)"),
    ("full_admin_requested_at", "full_admin_requested", "full admin requested (SO-7)"),
    ("trial_converted_at", "trial_converted", "trial converted"),
    ("mapped_at", "mapped", "subscription mapped to the org"),
    ("provisioned_at", "provisioned", "services provisioned"),
    ("start_at", "subscription_start", "subscription starts"),
    ("close_at", "close", "order closes"),
    ("closed_at", "closed", "order closed"),
    ("cancelled_at", "cancelled", "order cancelled"),
)
WHOLESALE = (
    ("created_at", "requested", "customer requested (PX-3)"),
    ("compliance_hit_at", "compliance_hold", "held for restricted party review (WH-C2)"),
    ("compliance_escalated_at", "compliance_escalated", "hold escalated to operations (WH-C2)"),
)
SETUP_ASSIST = (("created_at", "submitted", "project submitted (WH-A2)"),)
MIGRATION = (("created_at", "started", "migration started (PX-8)"),)

# Moments at the same time, in the order they happen (the users' notice before the move).
RANK: dict[str, int] = {}
for _kind in (
    "start",
    "consent_expires",
    "activated",
    "expiry_t_minus_7",
    "trial_expires",
    "services_ended_notice",
    "grace_ends",
    "numbers_release",
    *(kind for _, kind, _ in (*TRIAL, *DEVICES, *ORDER, *WHOLESALE)),
):
    RANK.setdefault(_kind, len(RANK))

# A moment after the first of these never comes: the lifecycle ended there.
ENDS = {
    "trial": ("converted", "cancelled"),
    "devices": ("cancelled", "returned"),
    "order": ("closed", "cancelled"),
}
KEEP_AFTER_END = {"numbers_release", "return_due", "overdue", "returned", "closed", "close"}


def _utc(at: datetime | date) -> datetime:
    if isinstance(at, datetime):
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    return datetime.combine(at, time(0, 0), tzinfo=UTC)


def _moments(row: Any, columns: tuple[tuple[str, str, str], ...]) -> list[Moment]:
    return [
        Moment(at=_utc(at), kind=kind, label=label)
        for column, kind, label in columns
        if (at := getattr(row, column, None)) is not None
    ]


def build(
    lifecycle: str,
    row: Any,
    notices: list[Notice],
    *,
    trial_calendar: TrialCalendar | None = None,
    status: dict[str, Any] | None = None,
) -> Timeline:
    """The timeline of one read-model ``row`` (pure: no I/O). ``status`` is the workflow's
    status query as JSON, where the caller could ask it (its next deadline wins)."""
    status = status or {}
    if lifecycle == "trial":
        moments = _moments(row, TRIAL)
        cal = trial_calendar or TrialCalendar()
        if row.ends_at is not None:
            ends = _utc(row.ends_at)
            moments.append(
                Moment(
                    at=ends - cal.days(cal.expiry_notice_days),
                    kind="expiry_t_minus_7",
                    label="T-7: expiry notice (TR-E1)",
                )
            )
            grace_ends = _utc(row.grace_ends_at) if row.grace_ends_at else None
            if grace_ends is None:  # set at T; planned by the policy until then
                grace_ends = ends + cal.days(cal.grace_days)
                moments.append(Moment(at=grace_ends, kind="grace_ends", label=GRACE_ENDS))
            moments.append(
                Moment(
                    at=min(ends + cal.days(cal.user_notice_days), grace_ends),
                    kind="services_ended_notice",
                    label="users told services ended (TR-E3)",
                )
            )
        if row.numbers_released_at is not None:
            moments = [m for m in moments if m.kind != "numbers_release"]
            moments.append(
                Moment(
                    at=_utc(row.numbers_released_at),
                    kind="numbers_release",
                    label="retained numbers released (TR-E5)",
                )
            )
        if row.activated_at is not None:  # consent given in time: its window never closed
            moments = [m for m in moments if m.kind != "consent_expires" or m.at < row.activated_at]
        ident, state = row.id, row.state
    elif lifecycle == "devices":
        moments, ident, state = _moments(row, DEVICES), row.trial_id, row.state
    elif lifecycle == "order":
        moments, ident, state = _moments(row, ORDER), row.id, row.state
    elif lifecycle == "wholesale":
        moments, ident, state = _moments(row, WHOLESALE), row.id, row.status
        if asked := status.get("approval_asked_at"):
            moments.append(
                Moment(
                    at=_utc(datetime.fromisoformat(asked)),
                    kind="approval_asked",
                    label="org admin asked to approve (PX-4)",
                )
            )
        moments.append(
            Moment(
                at=_utc(row.status_changed_at),
                kind=f"status_{row.status}",
                label=f"status {row.status}",
            )
        )
    elif lifecycle == "setup_assist":
        moments, ident, state = _moments(row, SETUP_ASSIST), row.id, row.state
        for phase in (row.status or {}).get("phases", []):
            end = phase.get("ended_on") or phase["planned_end"]
            moments.append(
                Moment(
                    at=_utc(date.fromisoformat(end)) + timedelta(hours=23, minutes=59),
                    kind=f"phase_{phase['number']}_end",
                    label=f"phase {phase['number']} ends: {phase['name']}",
                )
            )
        moments.append(
            Moment(
                at=_utc(row.completion_date) + timedelta(hours=23, minutes=59),
                kind="completion",
                label="completion date (WH-A3)",
            )
        )
    elif lifecycle == "migration":
        moments, ident, state = _moments(row, MIGRATION), row.id, row.state
        moments.append(
            Moment(at=_utc(row.updated_at), kind=f"state_{row.state}", label=f"state {row.state}")
        )
    else:
        raise ValueError(f"no timeline for {lifecycle}")

    next_at = status.get("next_deadline_at") or getattr(row, "next_deadline_at", None)
    next_kind = status.get("next_deadline_kind") or getattr(row, "next_deadline_kind", None)
    next_at = (
        _utc(datetime.fromisoformat(next_at) if isinstance(next_at, str) else next_at)
        if (next_at)
        else None
    )
    if next_at is not None and not any(m.at == next_at for m in moments):
        moments.append(Moment(at=next_at, kind=next_kind or "next", label=next_kind or "next"))
    moments.sort(key=lambda m: (m.at, RANK.get(m.kind, len(RANK))))

    ended = [m.at for m in moments if m.kind in ENDS.get(lifecycle, ())]
    end = min(ended) if ended else None
    for m in moments:
        if end is not None and m.at > end and m.kind not in KEEP_AFTER_END:
            m.status = "void"
        elif next_at is None or m.at < next_at:
            m.status = "done"
        elif m.at == next_at:
            m.status = "next"
        else:
            m.status = "planned"
    _attach(moments, notices)
    return Timeline(
        lifecycle=lifecycle,
        id=ident,
        workflow_id=getattr(row, "workflow_id", None),
        state=state,
        next_deadline_at=next_at,
        next_deadline_kind=next_kind,
        moments=moments,
    )


def _attach(moments: list[Moment], notices: list[Notice]) -> None:
    """Each notice on the latest live moment at or before its due time (else the first)."""
    if not moments:
        return
    live = [m for m in moments if m.status != "void"] or moments
    groups: dict[int, Counter[str]] = {}
    sent: dict[int, Counter[str]] = {}
    recipients: dict[tuple[int, str], list[str]] = {}
    for n in sorted(notices, key=lambda n: (n.due_at, n.kind, n.recipient)):
        due = _utc(n.due_at)
        index = max((i for i, m in enumerate(live) if m.at <= due), default=0)
        groups.setdefault(index, Counter())[n.kind] += 1
        sent.setdefault(index, Counter())[n.kind] += n.sent_at is not None
        shown = recipients.setdefault((index, n.kind), [])
        if len(shown) < RECIPIENTS_SHOWN:
            shown.append(n.recipient)
    for index, kinds in groups.items():
        live[index].notices = [
            NoticeGroup(
                kind=kind,
                count=count,
                sent=sent[index][kind],
                recipients=recipients[(index, kind)],
            )
            for kind, count in kinds.items()
        ]


# --- the store: find the lifecycle, read its notices ------------------------------------

TABLES: dict[str, tuple[Any, Any]] = {
    "trial": (Trial, Trial.id),
    "devices": (DeviceTrialRow, DeviceTrialRow.trial_id),
    "order": (OrderRecord, OrderRecord.id),
    "wholesale": (WholesaleCustomer, WholesaleCustomer.id),
    "setup_assist": (SetupAssistProject, SetupAssistProject.id),
    "migration": (Migration, Migration.id),
}


async def find(
    s: AsyncSession, ident: str, lifecycle: str | None = None
) -> tuple[str, Any, list[Notice]] | None:
    """The lifecycle named by its id or its workflow id (a trial's id names the trial, not
    its device trial: pass ``lifecycle="devices"`` or the workflow id ``devices-<id>``), its
    read-model row and its outbox rows; ``None`` if no lifecycle has that id."""
    for kind in (lifecycle,) if lifecycle else LIFECYCLES:
        table, key = TABLES[kind]
        row = (
            await s.exec(select(table).where(or_(key == ident, table.workflow_id == ident)))
        ).first()
        if row is None:
            continue
        match = [col(Notice.workflow_id) == row.workflow_id]
        if kind == "trial":
            match.append(col(Notice.trial_id) == row.id)
        notices = list((await s.exec(select(Notice).where(or_(*match)))).all())
        return kind, row, notices
    return None


# --- the picture ----------------------------------------------------------------------------

COLORS = {"done": "#2e7d32", "next": "#e65100", "planned": "#1565c0", "void": "#9e9e9e"}


def render_png(timeline: Timeline) -> bytes:
    """One line of moments in time (matplotlib, Agg: no display): filled when done, the next
    deadline larger, planned ones hollow, void ones grey crosses; each labelled, with the
    notices sent on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    moments = timeline.moments
    fig = Figure(figsize=(12, 4.2), dpi=100)
    ax = fig.add_subplot()
    xs = [mdates.date2num(m.at) for m in moments]
    if xs:
        ax.plot([min(xs), max(xs)], [0, 0], color="#bdbdbd", lw=2, zorder=1)
    for i, (x, m) in enumerate(zip(xs, moments, strict=True)):
        color = COLORS[m.status]
        marker = "x" if m.status == "void" else "o"
        face = "white" if m.status == "planned" else color
        size = 13 if m.status == "next" else 9
        ax.plot([x], [0], marker=marker, ms=size, color=color, mfc=face, mew=2, zorder=3)
        up = 1 if i % 2 == 0 else -1
        sent = ", ".join(f"{g.kind} ×{g.count}" for g in m.notices)
        text = f"{m.label}\n{m.at:%Y-%m-%d %H:%M}" + (f"\n✉ {sent}" if sent else "")
        ax.annotate(
            text,
            (x, 0),
            xytext=(0, 28 * up),
            textcoords="offset points",
            ha="center",
            va="bottom" if up > 0 else "top",
            fontsize=7,
            color=color,
            arrowprops={"arrowstyle": "-", "color": "#bdbdbd", "lw": 0.8},
        )
    ax.set_ylim(-1.4, 1.4)
    ax.get_yaxis().set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    if xs:
        pad = max((max(xs) - min(xs)) * 0.08, 0.5)
        ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_title(
        f"{timeline.lifecycle} {timeline.id}: {timeline.state}"
        + (f"; next {timeline.next_deadline_kind}" if timeline.next_deadline_kind else ""),
        fontsize=10,
    )
    ax.legend(
        handles=[
            Line2D([], [], marker="o", ls="", color=c, mfc="white" if s == "planned" else c)
            for s, c in COLORS.items()
        ],
        labels=list(COLORS),
        loc="upper right",
        fontsize=7,
        frameon=False,
        ncols=4,
    )
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
