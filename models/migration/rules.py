"""Pure migration rules (no store): the precheck of an export's fields and duplicates
(WH-S3's "before provisioning", WH-S1, WH-P1), the problems of a malformed file, the batches
of provisioning, the PX-8 notice and the per-user CSV report."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError

from models.migration.contract import Problem
from models.migration.export import BroadWorksExport

# WH-P1: the user packages (the wholesale subscriber packages); calling ones need an
# extension or a number (WH-S1).
USER_PACKAGES = ("webex_voice", "webex_calling", "webex_suite", "webex_meetings")
CALLING_PACKAGES = frozenset({"webex_voice", "webex_calling", "webex_suite"})
EXTENSION = re.compile(r"^[0-9]{2,10}$")
MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$")


def problem(subject: str, field: str, rule: str, message: str, blocking: bool = True) -> Problem:
    return Problem(subject=subject, field=field, rule=rule, message=message, blocking=blocking)


def user_subject(user_id: str) -> str:
    return f"user {user_id}"


# --- field checks ------------------------------------------------------------------------


_DOT_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


@lru_cache(maxsize=4096)
def _domain_problem(domain: str) -> str | None:
    return email_problem_full(f"a@{domain}")


def email_problem_full(email: str) -> str | None:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as err:
        return str(err)
    return None


def email_problem(email: str) -> str | None:
    """email-validator's verdict; a plain ASCII local part at a domain already judged is
    judged once per domain (a customer's users share one domain)."""
    local, at, domain = email.rpartition("@")
    if at and len(local) <= 64 and _DOT_ATOM.match(local):
        return _domain_problem(domain)
    return email_problem_full(email)


def normal_email(email: str) -> str:
    return email.strip().lower()


@lru_cache(maxsize=65536)
def e164_problem(number: str) -> str | None:
    """An E.164 number as written (``+`` and digits only) that ``phonenumbers`` knows as valid."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as err:
        return f"not a phone number ({err})"
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number:
        return "write it in E.164: + and digits only, e.g. +14085550100"
    if not phonenumbers.is_valid_number(parsed):
        return "not a valid number in its country's numbering plan"
    return None


def country_problem(code: str) -> str | None:
    if pycountry.countries.get(alpha_2=code.upper()) is None or code != code.upper():
        return "an ISO 3166 alpha-2 code in capitals, e.g. US"
    return None


def normal_mac(mac: str) -> str:
    return re.sub(r"[^0-9A-Fa-f]", "", mac).upper()


def check_export(x: BroadWorksExport) -> list[Problem]:
    """Every field problem and every duplicate inside the file, by subject and field."""
    p: list[Problem] = []
    ent = x.enterprise
    if why := country_problem(ent.country):
        p.append(problem("enterprise", "country", "WH-C1", why))
    if why := email_problem(ent.admin_email):
        p.append(problem("enterprise", "admin_email", "WH-C1", why))

    loc_ids = Counter(loc.id for loc in x.locations)
    for loc in x.locations:
        if loc_ids[loc.id] > 1:
            p.append(problem(f"location {loc.id}", "id", "PX-8", "listed more than once"))
            loc_ids[loc.id] = 1  # reported once
        if why := country_problem(loc.country):
            p.append(problem(f"location {loc.id}", "country", "WH-C1", why))
    locations = set(loc_ids)

    inventory: set[str] = set()
    for n in x.numbers:
        subject = f"number {n.number}"
        if n.number in inventory:
            p.append(problem(subject, "number", "PX-8", "listed more than once"))
        inventory.add(n.number)
        if why := e164_problem(n.number):
            p.append(problem(subject, "number", "WH-S1", why))
        if n.location_id not in locations:
            p.append(problem(subject, "location_id", "PX-8", f"no location {n.location_id}"))

    users = {u.id: u for u in x.users}
    ids = Counter(u.id for u in x.users)
    emails = Counter(normal_email(u.email) for u in x.users)
    extensions = Counter(u.extension for u in x.users if u.extension)
    numbers = Counter(u.number for u in x.users if u.number)
    for u in x.users:
        s = user_subject(u.id)
        if ids[u.id] > 1:
            p.append(problem(s, "id", "PX-8", "the user ID is listed more than once"))
        if why := email_problem(u.email):
            p.append(problem(s, "email", "WH-S1", why))
        elif emails[normal_email(u.email)] > 1:
            p.append(problem(s, "email", "WH-S3", "the email is used by another user of the file"))
        if u.package not in USER_PACKAGES:
            p.append(problem(s, "package", "WH-P1", f"not a user package; one of {USER_PACKAGES}"))
        calling = u.package in CALLING_PACKAGES
        if calling and not (u.extension or u.number):
            p.append(
                problem(s, "extension", "WH-S1", "a calling package needs an extension or a number")
            )
        if u.extension:
            if not EXTENSION.match(u.extension):
                p.append(problem(s, "extension", "WH-S1", "2 to 10 digits"))
            elif extensions[u.extension] > 1:
                p.append(problem(s, "extension", "WH-S3", "another user of the file has it"))
        if u.number:
            if why := e164_problem(u.number):
                p.append(problem(s, "number", "WH-S1", why))
            elif numbers[u.number] > 1:
                p.append(problem(s, "number", "WH-S3", "another user of the file has it"))
            elif u.number not in inventory:
                p.append(problem(s, "number", "PX-8", "not one of the enterprise's numbers"))
        if u.location_id is not None and u.location_id not in locations:
            p.append(problem(s, "location_id", "PX-8", f"no location {u.location_id}"))
        if calling and u.location_id is None and len(locations) > 1:
            p.append(problem(s, "location_id", "WH-S1", "the org has several locations: name one"))

    macs = Counter(normal_mac(d.mac) for d in x.devices)
    for d in x.devices:
        s = f"device {d.mac}"
        if not MAC.match(d.mac):
            p.append(problem(s, "mac", "PX-8", "12 hexadecimal digits (separators : or -)"))
        elif macs[normal_mac(d.mac)] > 1:
            p.append(problem(s, "mac", "PX-8", "another device of the file has this MAC"))
            macs[normal_mac(d.mac)] = 1
        owner = users.get(d.owner)
        if owner is None:
            p.append(problem(s, "owner", "PX-8", f"no user {d.owner} in the file"))
        elif owner.package not in CALLING_PACKAGES:
            p.append(
                problem(
                    user_subject(owner.id), "package", "WH-M1", f"owns phone {d.mac}: needs calling"
                )
            )

    clients = Counter((c.owner, c.platform) for c in x.soft_clients)
    for c in x.soft_clients:
        s = f"soft client of {c.owner}"
        if c.owner not in users:
            p.append(problem(s, "owner", "PX-8", f"no user {c.owner} in the file"))
        elif clients[(c.owner, c.platform)] > 1:
            p.append(problem(s, "platform", "PX-8", f"two {c.platform} clients for one user"))
            clients[(c.owner, c.platform)] = 1
    return p


def structural_problems(data: Any, err: ValidationError) -> list[Problem]:
    """A file that does not fit the schema: every error, named by user where it is in one."""
    out = []
    for e in err.errors():
        loc = list(e.get("loc", ()))
        subject, field = "file", ".".join(str(x) for x in loc) or "file"
        if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(data, dict):
            section, index = str(loc[0]), loc[1]
            items = data.get(section)
            item = items[index] if isinstance(items, list) and index < len(items) else None
            name = (
                item.get("id") or item.get("mac") or item.get("number")
                if isinstance(item, dict)
                else None
            )
            kind = {
                "users": "user",
                "locations": "location",
                "numbers": "number",
                "devices": "device",
                "soft_clients": "soft client",
            }.get(section, section)
            subject = f"{kind} {name}" if isinstance(name, str) else f"{kind} #{index + 1}"
            field = ".".join(str(x) for x in loc[2:]) or section
        elif loc and loc[0] == "enterprise":
            subject, field = "enterprise", ".".join(str(x) for x in loc[1:]) or "enterprise"
        message = "unknown field" if e.get("type") == "extra_forbidden" else e.get("msg", "")
        out.append(problem(subject, field, "PX-8", message))
    return out


def parse_export(data: Any) -> tuple[BroadWorksExport | None, list[Problem]]:
    """The export and its field problems, or ``None`` and its structural problems."""
    try:
        x = BroadWorksExport.model_validate(data)
    except ValidationError as err:
        return None, structural_problems(data, err)
    return x, check_export(x)


# --- provisioning -------------------------------------------------------------------------


def batches(total: int, size: int, start: int = 0) -> Iterable[tuple[int, int]]:
    """``[start, end)`` index ranges of at most ``size`` users."""
    for lo in range(start, total, size):
        yield lo, min(lo + size, total)


def customer_packages(packages: Iterable[str]) -> list[str]:
    """The customer's packages: those its users hold, in WH-P1 order."""
    held = set(packages)
    return [p for p in USER_PACKAGES if p in held]


# --- PX-8: what each user is told at cut-over --------------------------------------------

NOTICE_KIND = "migration_px8_user"


def px8_notice(
    first_name: str, org: str, brand: str, package: str, number: str | None, ext: str | None
) -> tuple[str, str]:
    """Subject and body: what moves, what is lost, what to do (PX-8)."""
    reach = ", ".join(x for x in (number and f"number {number}", ext and f"extension {ext}") if x)
    subject = f"{org} has moved your phone service to Webex"
    body = (
        f"Hello {first_name},\n\n"
        f"{brand} has moved {org} from BroadWorks to Webex ({package.replace('_', ' ')}).\n"
        + (f"You keep your {reach}.\n" if reach else "")
        + "\nWhat to do now:\n"
        "- Sign in to the Webex App and reset your password at your first sign-in.\n"
        "- The UC-One app is replaced by the Webex App: it upgrades itself; sign in there.\n"
        "- Your desk phone has been moved for you.\n"
        "\nWhat does not move:\n"
        "- your call history and message history;\n"
        "- personal settings such as speed dials;\n"
        "- features that were not migrated: your administrator re-creates them by hand.\n"
    )
    return subject, body


# --- the per-user report ------------------------------------------------------------------

REPORT_COLUMNS = (
    "user_id",
    "email",
    "package",
    "extension",
    "number",
    "location_id",
    "state",
    "attempts",
    "reason",
    "subscriber_id",
    "devices",
    "soft_clients",
    "notice_sent",
)


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else r.get(k) for k in REPORT_COLUMNS})
    return out.getvalue()
