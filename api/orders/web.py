"""The set-up wizard's web pages (SO-3..SO-13) for the person who clicks the provisioning
email's *Set up now* link: server-rendered Jinja2 forms, plain HTML, no JavaScript.

- ``GET /orders/setup?token=…`` (the link of SO-1) shows the order and *Set up now*.
- Every screen is a ``POST /orders/setup`` carrying the link's token and the answers so far
  in one hidden field, encrypted and signed (Fernet, keyed from the set-up token key). No
  answer is stored between screens: closing the tab leaves no trace and the next visit
  starts over (SO-3).
- Each screen calls the validating update the HTTP API calls
  (``SubscriptionOrder.check_setup``: the answers up to that step, saves nothing) and shows
  what the next screen needs (SO-5's orgs, SO-12's purchased services). The review commits
  every answer with one update (``commit_setup``): provision and start billing (SO-10).
- From the same link, services left for later are set up (``setup_services``, SO-9/SO-13).
- ``GET /orders/setup/summary.pdf?token=…`` downloads the order summary (SO-10).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pycountry
from cryptography.fernet import Fernet, InvalidToken
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import db_of
from api.orders.routes import order_of_link
from models.common.refusal import RuleError, Violation
from models.orders.contract import (
    FLEX_OFFERS,
    SERVICES,
    OrgChoice,
    OrgMatch,
    StepResult,
    UpdateResult,
)
from models.orders.rules import MIN_PASSWORD, BadToken
from models.orders.store import asks_for_orgs, order_document, order_services
from models.orders.tables import OrderRecord, OrderService
from workflows.orders.workflow import SubscriptionOrder

router = APIRouter(prefix="/orders/setup", include_in_schema=False)

# One environment, every page compiled once at import (a broken template fails at start-up).
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGES = {
    name: TEMPLATES.get_template(f"{name}.html.j2")
    for name in (
        "landing",
        "who",
        "purpose",
        "org",
        "customer_admin",
        "password",
        "services",
        "review",
        "done",
        "message",
    )
}
COUNTRIES = sorted((c.alpha_2, c.name) for c in pycountry.countries)
TIMEZONES = sorted(zoneinfo.available_timezones())
MAX_FORM_BYTES = 64 * 1024
MAX_SITES = 20
SCREEN_TITLES = {
    "who": "Who sets up",
    "purpose": "For whom",
    "partner-org": "Partner org",
    "customer-admin": "Customer admin",
    "customer-org": "Customer org",
    "password": "Partner password",
    "services": "Services",
    "review": "Review",
}
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the link's token is in the URL
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


class Page(Exception):
    """Stop and show a message page (a bad link, an order that has ended, Temporal away)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def html(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(PAGES[name].render(**ctx), status_code=status, headers=HEADERS)


def message_page(p: Page) -> HTMLResponse:
    return html("message", p.status, title=p.title, message=p.message, order=None)


# --- the answers between screens: encrypted and signed, never stored -------------------------


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    digest = hashlib.sha256(b"orders-web-wizard\0" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _key(request: Request) -> str:
    return request.app.state.settings.order_setup_token_key.get_secret_value()


def seal(request: Request, row: OrderRecord, data: dict[str, Any]) -> str:
    blob = {"o": row.id, "v": row.contact_version, **data}
    return _fernet(_key(request)).encrypt(json.dumps(blob).encode()).decode()


def unseal(request: Request, row: OrderRecord, sealed: str) -> dict[str, Any]:
    try:
        data = json.loads(_fernet(_key(request)).decrypt(sealed.encode()))
    except (InvalidToken, ValueError):
        data = None
    if (
        not isinstance(data, dict)
        or data.get("o") != row.id
        or data.get("v") != row.contact_version
    ):
        raise Page(
            400,
            "Start again",
            "The wizard's answers could not be read (nothing was saved). Start again from the "
            "link in your email.",
        )
    return data


# --- the wizard --------------------------------------------------------------------------------


@dataclass
class Wizard:
    request: Request
    row: OrderRecord
    token: str
    answers: dict[str, Any] = field(default_factory=dict)  # SetupAnswers as JSON
    resume: bool = False  # SO-9/SO-13: services of an order already mapped
    names: dict[str, str] = field(default_factory=dict)  # org id -> name, for the review
    open_services: list[str] = field(default_factory=list)  # resume: the services left

    # -- calls to the order's workflow (the HTTP API's updates) --

    async def update(self, update: Any, arg: Any) -> UpdateResult:
        handle = self.request.app.state.client.get_workflow_handle(self.row.workflow_id)
        try:
            return await handle.execute_update(update, arg)
        except WorkflowUpdateFailedError as err:
            refusal = RuleError.from_failure(err)
            if refusal is None:
                raise
            raise refusal from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise RuleError.one(
                    "PX-5", "state", f"the order is {self.row.state}: it has ended"
                ) from None
            raise Page(
                503, "Try again shortly", "The order service is not reachable right now."
            ) from None

    async def check(self, step: str, answers: dict[str, Any] | None = None) -> StepResult:
        payload = {"step": step, "answers": self.answers if answers is None else answers}
        r = await self.update(SubscriptionOrder.check_setup, payload)
        assert r.step is not None
        return r.step

    async def match(self, which: str) -> OrgMatch:
        """SO-5: the orgs the next screen offers (a search kept in the answer widens them)."""
        key = "partner_org" if which == "partner-org" else "customer_org"
        a = dict(self.answers)
        choice = a.get(key)
        if choice is not None and not asks_for_orgs_json(choice):
            search = (choice.get("domain_search") or "").strip()
            a[key] = {"action": "choose", "domain_search": search} if search else None
        result = await self.check(which, a)
        m = result.partner_org if key == "partner_org" else result.customer_org
        assert m is not None
        for c in [m.proposed, *m.candidates]:
            if c is not None:
                self.names[c.org_id] = c.name
        return m

    # -- the pages --

    def ctx(self, screen: str, errors: list[Violation], **kw: Any) -> dict[str, Any]:
        state = seal(
            self.request,
            self.row,
            {
                "a": self.answers,
                "r": self.resume,
                "n": self.names,
                "s": self.open_services,
            },
        )
        return dict(
            order=order_view(self.row),
            token=self.token,
            state=state,
            screen=screen,
            screens=self.screens(),
            titles=SCREEN_TITLES,
            resume=self.resume,
            errors=errors,
            field_errors=field_errors(errors),
            a=self.answers,
            action=self.request.app.url_path_for("order_setup_post"),
            closed_url=self.request.app.url_path_for("order_setup_closed"),
            **kw,
        )

    def screens(self) -> list[str]:
        a = self.answers
        if self.resume:
            return ["services", "review"]
        if handed_off_json(a):
            return ["who", "review"]
        out = ["who", "purpose"]
        if a.get("purpose") == "customer":
            out += ["partner-org", "customer-admin"]
        out.append("customer-org")
        if (a.get("partner_org") or {}).get("action") == "create":
            out.append("password")
        if not a.get("customer_sets_up_services"):
            out.append("services")
        return [*out, "review"]

    def services(self) -> list[tuple[str, int]]:
        """(service, quantity) of the services screen: SO-12 the purchased ones only, or
        (resume) those left for later."""
        bought = {ln["service"]: ln["quantity"] for ln in self.row.lines}
        names = self.open_services if self.resume else [n for n in SERVICES if n in bought]
        return [(n, bought[n]) for n in names if n in bought]

    async def show(
        self, screen: str, errors: list[Violation] | None = None, depth: int = 0, **kw: Any
    ) -> HTMLResponse:
        """Render ``screen`` with what it needs; a refused answer is shown on its screen."""
        errors = errors or []
        status = 400 if errors else 200
        if screen in ("partner-org", "customer-org"):
            try:
                m = await self.match(screen)
            except RuleError as err:
                if depth > 2:  # the earlier screens' answers keep failing: start over
                    raise Page(400, "Start again", str(err.violations[0])) from None
                return await self.show(self.screen_of(err), err.violations, depth + 1)
            kind = "partner" if screen == "partner-org" else "customer"
            choice = self.answers.get(f"{kind}_org") or {}
            return html(
                "org",
                status,
                **self.ctx(screen, errors, match=m, kind=kind, choice=choice, countries=COUNTRIES),
            )
        if screen == "services":
            svc = self.answers.get("services") or {}
            meetings = svc.get("meetings") or {}
            blank = {"name": "", "timezone": "", "early_adopter": False, "licenses": None}
            return html(
                "services",
                status,
                **self.ctx(
                    screen,
                    errors,
                    services=self.services(),
                    meetings=meetings,
                    sites=meetings.get("sites") or [blank],
                    calling=svc.get("calling") or {},
                    messaging=svc.get("messaging") or {},
                    subdomain=svc.get("subdomain") or "",
                    subdomain_note=kw.get("subdomain_note"),
                    countries=COUNTRIES,
                    timezones=TIMEZONES,
                ),
            )
        if screen == "review":
            return html("review", status, **self.ctx(screen, errors, **self.review()))
        page = screen.replace("-", "_")
        return html(page, status, **self.ctx(screen, errors, countries=COUNTRIES))

    def screen_of(self, err: RuleError) -> str:
        v = err.violations[0]
        if v.field == "state":
            raise Page(409, "Nothing to set up", str(v))
        top = v.field.split(".")[0].split("[")[0]
        if self.resume:
            return "services" if top == "services" else "review"
        return {
            "who": "who",
            "handoff_email": "who",
            "purpose": "purpose",
            "partner_org": "partner-org",
            "customer_admin_email": "who"
            if self.answers.get("who") == "customer"
            else "customer-admin",
            "customer_org": "customer-org",
            "customer_sets_up_services": "customer-org",
            "partner_password": "password",
            "services": "services",
        }.get(top, "review")

    def review(self) -> dict[str, Any]:
        a = self.answers
        svc = a.get("services") or {}
        now = [n for n, _ in self.services() if (svc.get(n) or {}).get("setup") == "now"]
        later = [n for n, _ in self.services() if (svc.get(n) or {}).get("setup") == "later"]
        if handed_off_json(a):
            finish = "Send the hand-off email"
        elif a.get("customer_sets_up_services"):
            finish = "Hand the service set-up to my customer"
        elif now:
            finish = "Provision and start billing"
        else:
            finish = "Finish: set up the services later"
        return dict(now=now, later=later, finish=finish, names=self.names)

    def provisions(self) -> bool:
        """SO-10 when a service is set up now (SO-9: all later provisions nothing)."""
        a = self.answers
        if handed_off_json(a) or a.get("customer_sets_up_services"):
            return False
        svc = a.get("services") or {}
        return any((svc.get(n) or {}).get("setup") == "now" for n, _ in self.services())


def handed_off_json(a: dict[str, Any]) -> bool:
    return a.get("who") in ("colleague", "customer")


def asks_for_orgs_json(choice: dict[str, Any]) -> bool:
    try:
        return asks_for_orgs(OrgChoice.model_validate(choice))
    except ValueError:
        return False


def order_view(row: OrderRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "offer": row.offer,
        "lines": row.lines,
        "start": f"{row.requested_start_date:%Y-%m-%d}",
        "close_at": f"{row.close_at:%Y-%m-%d %H:%M} UTC" if row.close_at else None,
        "state": row.state,
        "flex": row.offer in FLEX_OFFERS,
    }


def form_field(f: str) -> str:
    """The form input a refusal's field names (``services.meetings.sites[1].licenses`` ->
    ``site_1_licenses``)."""
    f = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", f)  # pydantic's sites.1.name
    if m := re.fullmatch(r"services\.meetings\.sites\[(\d+)\]\.(\w+)", f):
        return f"site_{m.group(1)}_{m.group(2)}"
    fixed = {
        "services.meetings": "meetings_setup",
        "services.meetings.sites": "sites",
        "services.calling": "calling_setup",
        "services.calling.location_name": "calling_location",
        "services.calling.country": "calling_country",
        "services.messaging": "messaging_setup",
        "services.subdomain": "subdomain",
    }
    if f in fixed:
        return fixed[f]
    head, _, tail = f.partition(".")
    if head in ("partner_org", "customer_org"):
        return "org_choice" if tail in ("", "org_id", "action") else tail
    return f


def field_errors(errors: list[Violation]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in errors:
        out.setdefault(form_field(v.field), []).append(f"{v.rule}: {v.message}")
    return out


# --- reading a screen's form into the answers ---------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise Page(413, "Too much", "The form is too large.")
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", "replace")
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=400))


def _text(form: dict[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _int(value: str | None) -> int | str | None:
    """A count as typed: a number, else the text itself (the update refuses it by field)."""
    if value is None:
        return None
    return int(value) if value.isdigit() and len(value) < 10 else value


def take_who(a: dict[str, Any], form: dict[str, str]) -> None:
    who = form.get("who") or None
    if who != a.get("who"):
        a.clear()  # another person or a hand-off: the answers after this one start over
    a["who"] = who
    a["handoff_email"] = _text(form, "handoff_email") if who == "colleague" else None
    if who == "customer":
        a["customer_admin_email"] = _text(form, "customer_admin_email")


def take_purpose(a: dict[str, Any], form: dict[str, str]) -> None:
    purpose = form.get("purpose") or None
    if purpose != a.get("purpose"):
        for k in ("partner_org", "customer_org", "customer_admin_email", "partner_password"):
            a.pop(k, None)
        a["customer_sets_up_services"] = False
    a["purpose"] = purpose


def take_org(a: dict[str, Any], key: str, form: dict[str, str], search: bool) -> None:
    """SO-5: ``org_choice`` is ``confirm:<id>``, ``choose:<id>``, ``create`` or
    ``not_mine``; a search keeps its term so the org chosen from it stays among those found."""
    term = _text(form, "domain_search")
    if search:
        a[key] = {"action": "choose", "domain_search": term}
        return
    raw = form.get("org_choice", "")
    action, _, org_id = raw.partition(":")
    choice: dict[str, Any] = {"action": action or "choose", "org_id": org_id or None}
    if term:
        choice["domain_search"] = term
    if action == "create":
        choice.update(
            company_name=_text(form, "company_name"),
            vertical=_text(form, "vertical"),
            country=_text(form, "country"),
        )
    a[key] = choice


def take_services(a: dict[str, Any], form: dict[str, str], names: list[str]) -> int:
    """The services screen into ``a["services"]``; returns the number of site rows."""
    svc: dict[str, Any] = {}
    raw = form.get("site_count", "1")
    count = min(max(int(raw) if raw.isdigit() and len(raw) < 4 else 1, 1), MAX_SITES)
    if "meetings" in names:
        sites = []
        for i in range(count):
            sites.append(
                {
                    "name": (form.get(f"site_{i}_name") or "").strip().lower(),
                    "timezone": (form.get(f"site_{i}_timezone") or "").strip(),
                    "early_adopter": form.get(f"site_{i}_early_adopter") == "on",
                    "licenses": _int(_text(form, f"site_{i}_licenses")),
                }
            )
        if form.get("meetings_setup") == "later":
            svc["meetings"] = {"setup": "later"}
        else:
            svc["meetings"] = {"setup": "now", "sites": sites}
    if "calling" in names:
        if form.get("calling_setup") == "later":
            svc["calling"] = {"setup": "later"}
        else:
            svc["calling"] = {
                "setup": "now",
                "location_name": _text(form, "calling_location"),
                "country": _text(form, "calling_country"),
            }
    if "messaging" in names:
        svc["messaging"] = {"setup": "later" if form.get("messaging_setup") == "later" else "now"}
    svc["subdomain"] = (_text(form, "subdomain") or "").lower() or None
    a["services"] = svc
    return count


# --- the routes ------------------------------------------------------------------------------


async def open_link(request: Request, token: str) -> OrderRecord:
    try:
        return await order_of_link(request, token)
    except BadToken as err:
        raise Page(
            401,
            "This link does not open a set-up",
            f"{str(err).capitalize()}. Use the newest provisioning email for the order, or ask "
            "the partner who placed it to send it again.",
        ) from None


async def left_for_later(request: Request, row: OrderRecord) -> list[str]:
    async with db_of(request).session() as s:
        rows = await order_services(s, row.id)
    return [x.service for x in rows if x.status in ("deferred", "pending")]


@router.get("", name="order_setup")
async def landing(request: Request, token: str = Query("", max_length=400)) -> Response:
    """The provisioning email's link: the order and *Set up now* (opening the page changes
    nothing; the button starts the set-up)."""
    try:
        row = await open_link(request, token)
        w = Wizard(request, row, token)
        if row.state in ("awaiting_setup", "setup_in_progress"):
            return html("landing", **w.ctx("landing", [], later=[]))
        if row.state in ("mapped", "provisioned"):
            later = await left_for_later(request, row)
            if later:
                return html("landing", **w.ctx("landing", [], later=later))
            return await done(w, None)
        raise Page(409, f"The order is {row.state}", _ended(row))
    except Page as p:
        return message_page(p)


def _ended(row: OrderRecord) -> str:
    return {
        "closed": "It was not provisioned in time and was closed (PX-5). The partner who "
        "placed it can order again.",
        "cancelled": "It was cancelled.",
        "scheduled": "Its set-up opens on the requested start date.",
    }.get(row.state, "Nothing can be set up now; the order desk has been told.")


@router.post("", name="order_setup_post")
async def submit(request: Request) -> Response:
    try:
        form = await read_form(request)
        token = form.get("token", "")
        row = await open_link(request, token)
        w = Wizard(request, row, token)
        screen = form.get("screen", "")
        action = form.get("action", "next")
        if screen == "landing":
            return await start(w)
        data = unseal(request, row, form.get("state", ""))
        w.answers = dict(data.get("a") or {})
        w.resume = bool(data.get("r"))
        w.names = dict(data.get("n") or {})
        w.open_services = list(data.get("s") or [])
        if screen not in w.screens():
            raise Page(400, "Start again", "That screen is not part of this set-up.")
        return await step(w, screen, action, form)
    except Page as p:
        return message_page(p)


async def start(w: Wizard) -> Response:
    """*Set up now*: set-up has started (SO-2 no longer due); the wizard starts empty."""
    try:
        await w.update(SubscriptionOrder.begin_setup, {})
    except RuleError as err:
        raise Page(409, "Nothing to set up", str(err.violations[0])) from None
    if w.row.state in ("mapped", "provisioned"):
        w.resume = True
        w.open_services = await left_for_later(w.request, w.row)
        return await w.show("services")
    return await w.show("who")


async def step(w: Wizard, screen: str, action: str, form: dict[str, str]) -> Response:
    a = w.answers
    screens = w.screens()
    if screen == "who":
        take_who(a, form)
    elif screen == "purpose":
        take_purpose(a, form)
    elif screen in ("partner-org", "customer-org"):
        key = "partner_org" if screen == "partner-org" else "customer_org"
        take_org(a, key, form, search=action == "search")
        if screen == "customer-org" and a.get("purpose") == "customer":
            a["customer_sets_up_services"] = form.get("customer_sets_up_services") == "on"
    elif screen == "customer-admin":
        a["customer_admin_email"] = _text(form, "customer_admin_email")
    elif screen == "password":
        password = form.get("partner_password", "")
        again = form.get("partner_password_again", "")
        if not password and not again and a.get("partner_password"):
            password = again = a["partner_password"]  # set before: the fields are never shown
        if action != "back":
            if password != again:
                return await w.show(
                    "password",
                    [Violation("SO-12", "partner_password", "the two passwords differ")],
                )
            if len(password) < MIN_PASSWORD:
                return await w.show(
                    "password",
                    [
                        Violation(
                            "SO-12",
                            "partner_password",
                            f"at least {MIN_PASSWORD} characters",
                        )
                    ],
                )
        a["partner_password"] = password or a.get("partner_password")
    elif screen == "services":
        rows = take_services(a, form, [n for n, _ in w.services()])
        sites = a["services"].get("meetings", {}).get("sites")
        if action == "add_site" and sites is not None:
            if len(sites) < MAX_SITES:
                sites.append({"name": "", "timezone": "", "licenses": None})
            return await w.show("services")
        if action == "remove_site" and sites is not None:
            if rows > 1:
                sites.pop()
            return await w.show("services")

    if action == "back":
        i = screens.index(screen)
        return await w.show(screens[max(i - 1, 0)])
    if screen == "review":
        return await commit(w)
    try:
        if screen == "services" and w.resume:
            return await w.show("review")  # the commit (setup_services) checks them
        if screen == "password":
            return await w.show("services" if "services" in w.screens() else "review")
        if screen == "customer-admin":
            return await w.show("customer-org")  # the match checks the admin's email first
        if screen in ("partner-org", "customer-org") and action == "search":
            return await w.show(screen)
        if screen in ("partner-org", "customer-org"):
            choice = a.get("partner_org" if screen == "partner-org" else "customer_org") or {}
            if choice.get("action") == "not_mine":
                try:
                    await w.check(screen)
                except RuleError as err:
                    raise Page(409, "Please contact Cisco", _stop_message(err)) from None
        result = await w.check(screen)
        if screen == "services" and action == "check_subdomain":
            sub = (a.get("services") or {}).get("subdomain")
            note = f"{sub} is available." if sub else "Enter a subdomain to check."
            return await w.show("services", subdomain_note=note)
    except RuleError as err:
        if screen == "services" and action == "check_subdomain":
            sub_errors = [v for v in err.violations if v.field == "services.subdomain"]
            sub = (a.get("services") or {}).get("subdomain")
            if not sub_errors and sub:
                return await w.show("services", subdomain_note=f"{sub} is available.")
            return await w.show("services", sub_errors or err.violations)
        return await w.show(w.screen_of(err), err.violations)
    nxt = result.next_step
    if nxt is None or nxt == screen:
        return await w.show(screen)
    screens = w.screens()  # the answers may add or drop screens (a new org, a hand-off)
    i = screens.index(screen)
    return await w.show(screens[i + 1] if i + 1 < len(screens) else "review")


def _stop_message(err: RuleError) -> str:
    v = err.violations[0]
    return (
        f"{v.message[:1].upper()}{v.message[1:]} ({v.rule}). Nothing was saved; the link stays "
        "valid until the order closes."
    )


async def commit(w: Wizard) -> Response:
    """Every answer at once (SO-3): a hand-off, the orgs, the services and, when a service
    is set up now, provisioning and billing (SO-10); or (resume) the services left."""
    w.answers["provision_and_start_billing"] = w.provisions()
    try:
        if w.resume:
            body = {
                "services": w.answers.get("services") or {},
                "provision_and_start_billing": w.answers["provision_and_start_billing"],
            }
            r = await w.update(SubscriptionOrder.setup_services, body)
        else:
            r = await w.update(SubscriptionOrder.commit_setup, w.answers)
    except RuleError as err:
        return await w.show(w.screen_of(err), err.violations)
    return await done(w, r)


async def done(w: Wizard, r: UpdateResult | None) -> Response:
    async with db_of(w.request).session() as s:
        row = await s.get(OrderRecord, w.row.id, populate_existing=True)
        services: list[OrderService] = await order_services(s, w.row.id)
        doc = await order_document(s, w.row.id)
    assert row is not None
    pdf = None
    if doc is not None:
        pdf = f"{w.request.app.url_path_for('order_setup_summary')}?token={quote(w.token)}"
    return html(
        "done",
        order=order_view(row),
        result=r,
        row_state=row.state,
        handed_to=row.contact_email if row.state == "awaiting_setup" else None,
        customer_sets_up=bool(w.answers.get("customer_sets_up_services")),
        services=services,
        pdf=pdf,
        link_stays=row.contact_version == w.row.contact_version,
    )


@router.get("/closed", name="order_setup_closed")
async def closed() -> Response:
    """SO-3: the wizard closed before the end: nothing was saved."""
    return message_page(
        Page(
            200,
            "Set-up closed",
            "Nothing was saved. To set up the order, start again from the link in the "
            "provisioning email.",
        )
    )


@router.get("/summary.pdf", name="order_setup_summary")
async def summary(request: Request, token: str = Query("", max_length=400)) -> Response:
    """SO-10: the order summary, for the holder of the order's set-up link."""
    try:
        row = await open_link(request, token)
    except Page as p:
        return message_page(p)
    async with db_of(request).session() as s:
        doc = await order_document(s, row.id)
    if doc is None:
        return message_page(
            Page(404, "No summary yet", "The summary is made when the order is provisioned.")
        )
    return Response(
        doc.content,
        media_type=doc.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{doc.filename}"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
