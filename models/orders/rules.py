"""The order rules that need no store: SO-1 order fields, the wizard's answers step by step
(SO-4, SO-8, SO-9..SO-13), the signed set-up link (SO-1) and PX-5's deadlines. Pure
functions; ``models.orders.store`` adds what needs the database (SO-5, SO-6, SO-8 checks of
names already taken)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import zoneinfo
from datetime import UTC, date, datetime, time
from functools import lru_cache

import pycountry
from email_validator import EmailNotValidError, validate_email

from models.common.refusal import Violation
from models.orders.contract import (
    FLEX_OFFERS,
    OFFERS,
    SERVICES,
    STEPS,
    OrderCreate,
    OrderLine,
    ServicesAnswers,
    SetupAnswers,
)

SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,28}[a-z0-9]$")
SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MIN_PASSWORD = 12


def normal_email(value: str | None) -> str | None:
    """The email in normal form, or None when it is not an email address (an alias is one)."""
    if not value:
        return None
    try:
        # test_environment: deliverability is not checked (no network) and the reserved
        # ``.test`` domain of test and demo data is accepted
        return validate_email(value, test_environment=True).normalized.lower()
    except EmailNotValidError:
        return None


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def is_country(code: str | None) -> bool:
    return bool(code) and len(code or "") == 2 and pycountry.countries.get(alpha_2=code) is not None


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_timezone(name: str) -> bool:
    return name in _timezones()


def start_of(day: date) -> datetime:
    """A requested start date begins at 00:00 UTC."""
    return datetime.combine(day, time(0), tzinfo=UTC)


# --- SO-1: the order ---------------------------------------------------------------------------


def check_order(req: OrderCreate, today: date) -> list[Violation]:
    v: list[Violation] = []
    if req.offer not in OFFERS:
        v.append(Violation("SO-1", "offer", f"unknown offer {req.offer!r}; one of {list(OFFERS)}"))
    if req.requested_start_date < today:
        v.append(
            Violation("SO-1", "requested_start_date", f"{req.requested_start_date} is in the past")
        )
    if normal_email(req.provisioning_contact_email) is None:
        v.append(Violation("SO-1", "provisioning_contact_email", "not an email address"))
    if req.account_rep_email and normal_email(req.account_rep_email) is None:
        v.append(Violation("SO-2", "account_rep_email", "not an email address"))
    v += check_lines(req.lines)
    if (req.confirm_new_org or req.through_distributor) and not req.trial_id:
        v.append(Violation("TR-V1", "trial_id", "confirmations apply only to an order of a trial"))
    return v


def check_lines(lines: list[OrderLine]) -> list[Violation]:
    v = []
    names = [ln.service for ln in lines]
    for name in names:
        if name not in SERVICES:
            v.append(Violation("SO-1", "lines", f"unknown service {name!r}; one of {SERVICES}"))
    if len(set(names)) != len(names):
        v.append(Violation("SO-1", "lines", "a service is listed twice"))
    return v


def check_start_date(day: date, today: date) -> list[Violation]:
    if day < today:
        return [Violation("SO-1", "requested_start_date", f"{day} is in the past")]
    return []


# --- the wizard (SO-3..SO-13): which answers each step needs -----------------------------------


def step_index(step: str) -> int:
    return STEPS.index(step)


def handed_off(a: SetupAnswers) -> bool:
    return a.who in ("colleague", "customer")


def next_step(step: str, a: SetupAnswers) -> str | None:
    if step == "who":
        return "review" if handed_off(a) else "purpose"
    if step == "purpose":
        return "partner-org" if a.purpose == "customer" else "customer-org"
    if step == "partner-org":
        return "customer-org"
    if step == "customer-org":
        return "review" if a.customer_sets_up_services else "services"
    if step == "services":
        return "review"
    return None


def check_answers(
    step: str,
    a: SetupAnswers,
    *,
    offer: str,
    purchased: dict[str, int],
    contact_email: str,
) -> list[Violation]:
    """What the answers up to ``step`` lack or get wrong, without the store."""
    v: list[Violation] = []
    upto = step_index(step)
    # who sets up (SO-4)
    if a.who is None:
        return [Violation("SO-4", "who", "choose who sets up: me, colleague or customer")]
    if a.who == "colleague":
        email = normal_email(a.handoff_email)
        if email is None:
            v.append(Violation("SO-4", "handoff_email", "the colleague's email is required"))
        elif email == contact_email:
            v.append(Violation("SO-4", "handoff_email", "that is already the contact"))
        return v
    if a.who == "customer":
        if normal_email(a.customer_admin_email) is None:
            v.append(
                Violation("SO-4", "customer_admin_email", "the customer admin's email is required")
            )
        return v
    if upto < step_index("purpose"):
        return v
    # for a customer or for my company (SO-11)
    if a.purpose is None:
        return [Violation("SO-11", "purpose", "declare the order for a customer or my company")]
    if upto < step_index("partner-org"):
        return v
    if a.purpose == "customer":
        if a.partner_org is None:
            return [Violation("SO-5", "partner_org", "map the order to the partner org first")]
        v += check_choice(a.partner_org, "partner_org")
        if v or upto < step_index("customer-org"):
            return v
        admin = normal_email(a.customer_admin_email)
        if admin is None:
            v.append(
                Violation("SO-5", "customer_admin_email", "the customer admin's email is required")
            )
        elif admin == contact_email:
            v.append(
                Violation(
                    "SO-6",
                    "customer_admin_email",
                    "a user belongs to one org: the partner's contact cannot be the customer admin",
                )
            )
    elif a.partner_org is not None:
        v.append(Violation("SO-11", "partner_org", "an order for my company maps one org only"))
    if upto < step_index("customer-org"):
        return v
    if a.customer_org is None:
        return [*v, Violation("SO-5", "customer_org", "map the order to the customer org")]
    v += check_choice(a.customer_org, "customer_org")
    if a.customer_sets_up_services and (a.purpose != "customer"):
        v.append(
            Violation(
                "SO-4", "customer_sets_up_services", "only a partner setting up for a customer"
            )
        )
    if v or upto < step_index("services"):
        return v
    # SO-12: a new partner org sets its password before the service set-up
    if a.partner_org is not None and a.partner_org.action == "create":
        if not a.partner_password or len(a.partner_password) < MIN_PASSWORD:
            v.append(
                Violation(
                    "SO-12",
                    "partner_password",
                    f"the new partner org sets a password of at least {MIN_PASSWORD} characters",
                )
            )
    if a.customer_sets_up_services:
        if a.services is not None:
            v.append(Violation("SO-4", "services", "the customer sets up the services"))
        if a.provision_and_start_billing:
            v.append(
                Violation(
                    "SO-10",
                    "provision_and_start_billing",
                    "the customer provisions when it sets up the services",
                )
            )
        return v
    if a.services is None:
        return [*v, Violation("SO-8", "services", "set up each purchased service, now or later")]
    v += check_services(a.services, purchased, purchased)
    if upto < step_index("review"):
        return v
    v += check_provision_choice(a.services, a.provision_and_start_billing)
    return v


def check_choice(c, field: str) -> list[Violation]:
    if c.action == "not_mine":
        return [
            Violation(
                "SO-5",
                field,
                "you do not recognise the org: stop here and contact your Cisco representative",
            )
        ]
    if c.action in ("confirm", "choose") and not c.org_id:
        return [Violation("SO-5", f"{field}.org_id", "name the org to confirm or choose")]
    if c.action == "create":
        v = []
        for name in ("company_name", "vertical", "country"):
            if not (getattr(c, name) or "").strip():
                v.append(Violation("SO-5", f"{field}.{name}", f"a new org needs {name}"))
        if c.country and not is_country(c.country):
            v.append(Violation("SO-5", f"{field}.country", "an ISO 3166 two-letter country code"))
        return v
    return []


def check_services(
    s: ServicesAnswers, purchased: dict[str, int], open_: dict[str, int]
) -> list[Violation]:
    """SO-8 per service; SO-12 only purchased ones (``open_``: those still to set up)."""
    v: list[Violation] = []
    for name in SERVICES:
        answer = getattr(s, name)
        if answer is not None and name not in purchased:
            v.append(Violation("SO-12", f"services.{name}", f"{name} was not purchased"))
        elif answer is not None and name not in open_:
            v.append(Violation("SO-13", f"services.{name}", f"{name} is already set up"))
        elif answer is None and name in open_:
            v.append(
                Violation("SO-8", f"services.{name}", f"set up {name} now, or choose later (SO-9)")
            )
    if s.meetings is not None and s.meetings.setup == "now" and "meetings" in open_:
        v += check_sites(s.meetings.sites, purchased["meetings"])
    if s.calling is not None and s.calling.setup == "now" and "calling" in open_:
        if not (s.calling.location_name or "").strip():
            v.append(
                Violation("SO-8", "services.calling.location_name", "the headquarters location")
            )
        if not is_country(s.calling.country):
            v.append(
                Violation(
                    "SO-8",
                    "services.calling.country",
                    "the ISO 3166 country where most users are",
                )
            )
    if s.subdomain is not None and not SUBDOMAIN.match(s.subdomain):
        v.append(
            Violation("SO-8", "services.subdomain", "lower-case letters, digits and hyphens (1-63)")
        )
    return v


def check_sites(sites, quantity: int) -> list[Violation]:
    v: list[Violation] = []
    if not sites:
        return [Violation("SO-8", "services.meetings.sites", "at least one Webex site")]
    names = [site.name for site in sites]
    for i, site in enumerate(sites):
        if not SITE_NAME.match(site.name):
            v.append(
                Violation(
                    "SO-8",
                    f"services.meetings.sites[{i}].name",
                    "3-30 lower-case letters, digits and hyphens",
                )
            )
        if not is_timezone(site.timezone):
            v.append(
                Violation(
                    "SO-8", f"services.meetings.sites[{i}].timezone", "an IANA time zone name"
                )
            )
    if len(set(names)) != len(names):
        v.append(Violation("SO-8", "services.meetings.sites", "a site name is listed twice"))
    split = [site.licenses for site in sites]
    if len(sites) == 1:
        if split[0] is not None and split[0] != quantity:
            v.append(
                Violation(
                    "SO-8",
                    "services.meetings.sites[0].licenses",
                    f"one site holds all {quantity} licenses",
                )
            )
    elif any(n is None for n in split) or sum(n or 0 for n in split) != quantity:
        v.append(
            Violation(
                "SO-8",
                "services.meetings.sites",
                f"the license split {split} must sum to the {quantity} purchased",
            )
        )
    return v


def check_provision_choice(s: ServicesAnswers, provision: bool) -> list[Violation]:
    now = [n for n in SERVICES if (a := getattr(s, n)) is not None and a.setup == "now"]
    if provision and not now:
        return [
            Violation(
                "SO-9",
                "provision_and_start_billing",
                "every service is set up later: nothing to provision",
            )
        ]
    if now and not provision:
        return [
            Violation(
                "SO-10",
                "provision_and_start_billing",
                f"{', '.join(now)} set up now: provision and start billing, or choose later",
            )
        ]
    return []


def partner_access(offer: str, who: str | None, existing_customer: bool) -> str:
    """SO-4 and SO-7: what the partner may do in the customer org."""
    if who == "customer" and offer not in FLEX_OFFERS:
        return "none"  # A-WX/A-SPK: the customer set up; the partner cannot manage the org
    return "provisioning_admin" if existing_customer else "full_admin"


# --- SO-1: the signed, expiring set-up link ----------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_setup_token(key: str, order_id: str, version: int, expires_at: datetime) -> str:
    """``<order>.<version>.<expiry>.<signature>``: HMAC-SHA256 over the rest."""
    body = f"{order_id}.{version}.{int(expires_at.timestamp())}"
    sig = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(sig)}"


class BadToken(ValueError):
    pass


def read_setup_token(key: str, token: str, now: datetime) -> tuple[str, int]:
    """(order id, contact version) of a valid, unexpired token; else ``BadToken``."""
    try:
        body, sig = token.rsplit(".", 1)
        order_id, version, expires = body.rsplit(".", 2)
        good = _b64(hmac.new(key.encode(), body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(good, sig):
            raise BadToken("the set-up link is not valid")
        if int(expires) < now.timestamp():
            raise BadToken("the set-up link has expired")
        return order_id, int(version)
    except BadToken:
        raise
    except (ValueError, TypeError):
        raise BadToken("the set-up link is not valid") from None


def hash_password(password: str, salt: bytes) -> str:
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${_b64(salt)}${_b64(digest)}"
