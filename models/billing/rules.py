"""Pure billing rules (no I/O): what a package is billed as (WH-B5), the report columns per
type in Cisco's names (WH-B5), the period rules (WH-B2), the local day (WH-B1) and the
signed, expiring download URL (WH-B3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class Service:
    name: str  # SERVICE_NAME
    sku: str  # SKU
    description: str  # DESCRIPTION


# WH-B5: what each wholesale package is billed as. SERVICE_NAME is Cisco's (COMMON_AREA_CALLING,
# WEBEX_CALLING, ...); the SKUs are this project's own catalogue names.
PACKAGE_SERVICES: dict[str, Service] = {
    "common_area_calling": Service(
        "COMMON_AREA_CALLING", "A-WHL-CAC", "Webex Wholesale Common Area Calling"
    ),
    "webex_voice": Service("WEBEX_VOICE", "A-WHL-VOICE", "Webex Wholesale Voice"),
    "webex_calling": Service("WEBEX_CALLING", "A-WHL-CALLING", "Webex Wholesale Calling"),
    "webex_suite": Service("WEBEX_SUITE", "A-WHL-SUITE", "Webex Wholesale Suite"),
    "webex_meetings": Service("WEBEX_MEETINGS", "A-WHL-MEETINGS", "Webex Wholesale Meetings"),
}

# WH-B5, in Cisco's column names and order; customer and user reports add columns.
PARTNER_COLUMNS = (
    "PARTNER_NAME",
    "PARTNER_ORG_ID",
    "SUBSCRIPTION_ID",
    "SERVICE_NAME",
    "SKU",
    "DESCRIPTION",
    "CONSUMPTION_START_DATE",
    "CONSUMPTION_END_DATE",
    "QUANTITY",
)
CUSTOMER_COLUMNS = (*PARTNER_COLUMNS, "CUSTOMER_ORG_ID", "CUSTOMER_EXTERNAL_ID")
USER_COLUMNS = (*CUSTOMER_COLUMNS, "SUBSCRIBER_ID", "USER_ID", "WORKSPACE_ID")
COLUMNS = {"PARTNER": PARTNER_COLUMNS, "CUSTOMER": CUSTOMER_COLUMNS, "USER": USER_COLUMNS}

QUANTITY_DECIMALS = 6  # a day's prorated quantity, rounded half away from zero

# ReportError codes (PX-6), numbers in the style of Webex's.
GENERATION_FAILED = 2030


# --- WH-B1: the billing day ------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The IANA zone that bounds a billing day; ValueError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def local_date(instant: datetime, tz: str) -> date:
    """The billing day ``instant`` falls on."""
    return instant.astimezone(zone(tz)).date()


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of ``day``: local midnight to the next local midnight (23 or 25 hours on
    a daylight-saving change)."""
    z = zone(tz)
    start = datetime(day.year, day.month, day.day, tzinfo=z)
    nxt = day + timedelta(days=1)
    return start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=z)


def month_start(d: date) -> date:
    return d.replace(day=1)


def previous_month(d: date) -> tuple[date, date]:
    """First and last day of the month before ``d``'s."""
    last = month_start(d) - timedelta(days=1)
    return last.replace(day=1), last


# --- WH-B2: the period ---------------------------------------------------------------------


def years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def parse_date(value: str) -> date | None:
    """``YYYY-MM-DD`` only; None when it is not a real date."""
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def period_problems(
    start: date, end: date, today: date, lookback_years: int
) -> list[tuple[str, str]]:
    """WH-B2: (field, message) for each rule the period breaks."""
    out: list[tuple[str, str]] = []
    earliest = years_before(today, lookback_years)
    for field, d in (("billingStartDate", start), ("billingEndDate", end)):
        if d >= today:
            out.append((field, f"must be before today ({today.isoformat()})"))
        elif d < earliest:
            out.append(
                (field, f"must be within the last {lookback_years} years ({earliest.isoformat()})")
            )
    if start > end:
        out.append(("billingStartDate", "must not be after billingEndDate"))
    return out


# --- report ids and the signed URL (WH-B3, WH-B4) ----------------------------------------------


def new_report_id(seed: str | None = None) -> str:
    """A Webex-shaped id: base64url of ``ciscospark://us/BILLING_REPORT/<uuid>``. With a
    ``seed`` the uuid is derived from it (the monthly report of a partner, PX-7)."""
    u = uuid.uuid5(uuid.NAMESPACE_URL, seed) if seed else uuid.uuid4()
    raw = f"ciscospark://us/BILLING_REPORT/{u}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def sign(key: bytes, report_id: str, file_token: str, expires: int) -> str:
    """HMAC-SHA256 over the report, its file's secret token and the expiry: changing any of
    them (extending ``expires``) breaks the signature; a deleted report has no token."""
    msg = f"{report_id}\n{file_token}\n{expires}".encode()
    mac = hmac.new(key, msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def verify(
    key: bytes, report_id: str, file_token: str, expires: int, signature: str, now: datetime
) -> str | None:
    """None when the URL is good, else why not."""
    expected = sign(key, report_id, file_token, expires).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass")):
        return "the signature does not match"
    if now.astimezone(UTC).timestamp() >= expires:
        return "the download URL has expired"
    return None


def expires_at(now: datetime, minutes: float) -> int:
    """WH-B3: the URL's expiry, ``minutes`` after the GET that returned it (whole seconds)."""
    return int((now + timedelta(minutes=minutes)).timestamp())
