"""Countries, emails, phone numbers and time zones: one definition each, from the libraries
that keep them (pycountry, email-validator, phonenumbers, zoneinfo), and the rules that
derive from them: data residency (TR-S2), call-in numbers (WH-C3), return carriers (DV-3),
one number however it is spelled (TR-E5, WH-S3 in tests/wholesale/test_phone_numbers.py)."""

from __future__ import annotations

import pycountry
import pytest
from pydantic import BaseModel, ValidationError
from sqlmodel import select

from models.common.countries import COUNTRIES, UN_M49, call_in_number, country, region_of
from models.common.orgs import create_customer_org
from models.common.refusal import RuleError
from models.common.tables import Org, PhoneNumber
from models.common.types import (
    CountryCode,
    Email,
    Phone,
    TimeZone,
    normalize_email,
    normalize_phone,
    normalize_time_zone,
)
from models.devices.contract import ShipmentRequest, carrier_for
from models.trials.contract import NewCustomer, TrialPolicy
from models.trials.rules import check_request
from models.wholesale.store import CustomerSpec, customer_field_problems
from tests.trials.helpers import until
from workers.settings import Settings

# --- the country table ----------------------------------------------------------------------


def test_every_iso_country_but_antarctica_has_one_un_region():
    """The table covers pycountry's ISO 3166 list: each code in exactly one UN M49 sub-region,
    none invented; Antarctica has none and is not supported."""
    listed = [c for subs in UN_M49.values() for codes in subs.values() for c in codes.split()]
    iso = {c.alpha_2 for c in pycountry.countries}
    assert len(listed) == len(set(listed))
    assert set(listed) <= iso
    assert iso - set(listed) == {"AQ"}
    assert set(COUNTRIES) == iso - {"AQ"}


@pytest.mark.parametrize(
    ("code", "residency"),
    [
        ("UA", "europe"),  # was north_america: any unknown country was
        ("NO", "europe"),
        ("RU", "europe"),
        ("CY", "europe"),  # an EU member, though M49 puts it in Western Asia
        ("US", "north_america"),
        ("MX", "north_america"),
        ("PR", "north_america"),
        ("BR", "south_america"),
        ("ZA", "mideast_africa"),
        ("AE", "mideast_africa"),
        ("TR", "mideast_africa"),
        ("JP", "asia_pacific"),
        ("IN", "asia_pacific"),
        ("AU", "asia_pacific"),
    ],
)
def test_tr_s2_residency_by_country(code, residency):
    """TR-S2: the country decides the data-residency region; a Ukrainian customer's data
    stays in Europe, not North America."""
    assert region_of(code) == residency
    assert region_of(code.lower()) == residency


@pytest.mark.parametrize("code", ["XX", "AQ", "USA", "", None, "U1"])
def test_tr_s2_unknown_or_unsupported_country_refused_naming_the_field(code):
    """An unknown code (XX), a country without a region (Antarctica) or no code at all is
    refused with the rule and the field, never given a default region."""
    with pytest.raises(RuleError) as err:
        country(code, rule="TR-S2", field="customer.country")
    (v,) = err.value.violations
    assert (v.rule, v.field) == ("TR-S2", "customer.country")
    assert str(err.value).startswith("TR-S2 (customer.country): ")
    with pytest.raises(RuleError):
        region_of(code)


def _trial_request(**customer):
    from models.trials.contract import TrialRequest

    base = dict(company_name="Kyiv Co", admin_email="a@kyiv.test", vertical="retail")
    return TrialRequest(
        partner_org_id="p-1",
        started_by="sales@partner.test",
        customer=NewCustomer(**{**base, **customer}),
        services=["messaging"],
        license_count=5,
        days=30,
    )


def test_tr_s2_country_xx_refused_by_the_start_rules():
    """TR-S2: a trial for a customer in ``XX`` is refused naming ``customer.country``."""
    v = check_request(_trial_request(country="XX"), TrialPolicy())
    assert [(x.rule, x.field) for x in v] == [("TR-S2", "customer.country")]
    assert "XX" in v[0].message
    assert check_request(_trial_request(country="ua"), TrialPolicy()) == []


async def test_tr_s2_ukrainian_trial_customer_is_kept_in_europe(world, run_worker, db):
    """TR-S2: a trial for a new Ukrainian customer creates an org whose data is in Europe."""
    async with run_worker():
        h = await world.start(
            customer=NewCustomer(
                company_name="Kyiv Co", admin_email="a@kyiv.test", vertical="retail", country="ua"
            ),
        )
        st = await until(h, lambda s: s.state == "awaiting_provisioning")
    async with db.session() as s:
        org = await s.get(Org, st.customer_org_id)
    assert org is not None
    assert (org.country, org.region) == ("UA", "europe")


async def test_tr_s2_every_residency_region_fits_the_org_column(db):
    """TR-S2: the region is stored with the org; the longest name fits ``org.region``
    (``middle_east_africa`` did not: a South African org could not be written)."""
    async with db.session() as s:
        za = await create_customer_org(s, "Cape Co", [("a@cape.test", "full")], [], country="za")
        ua = await create_customer_org(s, "Kyiv Co", [("a@kyiv.test", "full")], [], country="UA")
    async with db.session() as s:
        regions = {o.id: (o.country, o.region) for o in (await s.exec(select(Org))).all()}
    assert regions[za] == ("ZA", "mideast_africa")
    assert regions[ua] == ("UA", "europe")
    assert max(len(c.residency) for c in COUNTRIES.values()) <= 16  # org.region is VARCHAR(16)


@pytest.mark.parametrize(
    ("code", "number"),
    [
        ("US", "+1"),
        ("BR", "+1"),
        ("CA", "+1"),
        ("SG", "+65"),
        ("JP", "+65"),
        ("IN", "+65"),
        ("AU", "+61"),
        ("NZ", "+61"),
        ("GB", "+44"),
        ("UA", "+44"),
        ("CH", "+44"),
        ("ZA", "+44"),
        ("AE", "+44"),
        ("DE", "+49"),
        ("FR", "+49"),
        ("CY", "+49"),
    ],
)
def test_wh_c3_call_in_number_by_country(code, number):
    """WH-C3: Americas +1, APAC +65, ANZ +61, EMEA +44, EU +49; the telephony domain's own
    countries keep their own number, every other country takes its region's."""
    assert call_in_number(code) == number
    assert COUNTRIES[code].call_in == number


def test_wh_c3_unknown_country_has_no_call_in_number():
    """WH-C3: no default for an unknown country; the customer's address is refused first
    (WH-C1, naming ``address.country``)."""
    with pytest.raises(RuleError) as err:
        call_in_number("XX")
    assert [(v.rule, v.field) for v in err.value.violations] == [("WH-C3", "country")]
    spec = CustomerSpec(
        provisioning_id="t",
        packages=["webex_meetings"],
        external_id="x-1",
        org_id=None,
        address={"country": "XX"},
        customer_info={"name": "X Co", "primaryEmail": "a@x.test"},
    )
    assert [(v.rule, v.field) for v in customer_field_problems(spec)] == [
        ("WH-C1", "address.country")
    ]


@pytest.mark.parametrize(
    ("code", "region", "carrier", "label_in_box"),
    [
        ("US", "US", "UPS", True),
        ("CA", "CA", "DHL", False),
        ("DE", "EMEAR", "DHL", False),
        ("UA", "EMEAR", "DHL", False),
        ("RU", "EMEAR", "DHL", False),
        ("TR", "EMEAR", "DHL", False),
        ("ZA", "EMEAR", "DHL", False),
        ("AU", "AU", "Expeditors", False),
    ],
)
def test_dv_3_carrier_by_country(code, region, carrier, label_in_box):
    """DV-3: US → UPS with a label in each box; Canada and EMEAR (Europe, Russia, the Middle
    East, Africa) → DHL; Australia → Expeditors."""
    rule = carrier_for(code)
    assert rule is not None
    assert (rule.region, rule.carrier, rule.return_label_in_box) == (region, carrier, label_in_box)
    assert COUNTRIES[code].return_carrier == carrier


@pytest.mark.parametrize("code", ["BR", "JP", "NZ", "MX", "PR"])
def test_dv_3_no_return_carrier_outside_us_ca_emear_au(code):
    """DV-3: elsewhere there is no return carrier (the device workflow refuses the shipment)."""
    assert carrier_for(code) is None
    assert COUNTRIES[code].device_region is None


def test_dv_3_shipment_to_unknown_country_refused_naming_the_field():
    """DV-3: a shipment to ``XX`` is refused at the contract, naming ``country``."""
    base = dict(device_type="phone", model="9861", quantity=1, serials=["A1"])
    assert ShipmentRequest(**base, country=" de").country == "DE"
    with pytest.raises(ValidationError) as err:
        ShipmentRequest(**base, country="XX")
    (e,) = err.value.errors()
    assert e["loc"] == ("country",)
    assert "XX" in e["msg"]


# --- emails, phone numbers, time zones -------------------------------------------------------


class _Contact(BaseModel):
    email: Email
    phone: Phone
    zone: TimeZone
    country: CountryCode


@pytest.mark.parametrize(
    "address", ["ann@example.com", "a.b+c@sub.example.org", "admin@newco.test", "ü@exämple.com"]
)
def test_email_accepts_addresses_and_the_test_domain(address):
    """email-validator, no DNS: real domains, and RFC 6761's ``.test`` that tests use."""
    assert normalize_email(address) == address
    assert _Contact(email=address, phone="+14155550100", zone="UTC", country="US").email


@pytest.mark.parametrize(
    "address",
    [
        "trials-team@localhost",  # special-use, and no dot
        "a@b",
        "no-at-sign",
        "two@@example.com",
        "a b@example.com",
        "Ann <ann@example.com>",
        "x" * 250 + "@example.com",
        "a@example.com\nBcc: b@example.com",
    ],
)
def test_email_refuses_what_is_not_an_address(address):
    with pytest.raises(ValueError):
        normalize_email(address)


def test_tr_s1_and_tr_c1_emails_checked_by_the_library():
    """TR-S1/TR-C1/TR-S2: every email of a trial request is checked by email-validator."""
    req = _trial_request(country="US", admin_email="a@b").model_copy(
        update={"started_by": "sales@partner", "admin_email": "boss@@x.test"}
    )
    fields = [(v.rule, v.field) for v in check_request(req, TrialPolicy())]
    assert fields == [
        ("TR-S1", "started_by"),
        ("TR-S2", "customer.admin_email"),
        ("TR-C1", "admin_email"),
    ]


def test_settings_keep_their_local_addresses():
    """Settings are operators' addresses (``trials-team@localhost``), plain strings."""
    s = Settings()
    assert s.mail_from.endswith("@localhost")


@pytest.mark.parametrize(
    "spelling", ["+14155550100", "+1 (415) 555-0100", "+1 415 555 0100", "+1-415-555-0100"]
)
def test_phone_spellings_are_one_e164_number(spelling):
    """phonenumbers: however it is spaced or punctuated, a number is one E.164 string."""
    assert normalize_phone(spelling) == "+14155550100"
    assert _Contact(email="a@x.test", phone=spelling, zone="UTC", country="US").phone == (
        "+14155550100"
    )


@pytest.mark.parametrize("number", ["4155550100", "+1 555 0100", "+", "call me", "+44 12"])
def test_phone_refuses_national_short_or_garbage(number):
    with pytest.raises(ValueError):
        normalize_phone(number)


async def test_tr_e5_a_number_is_taken_in_any_spelling(world, db):
    """TR-E5: a number assigned to an org is refused to a new trial customer however it is
    spelled; orgs store it in E.164, and a number listed twice in two spellings is refused."""
    await world.org("Holder Co", numbers=["+1 (415) 555-0100"])
    async with db.session() as s:
        numbers = [n.number for n in (await s.exec(select(PhoneNumber))).all()]
    assert numbers == ["+14155550100"]
    customer = dict(company_name="NewCo", admin_email="admin@newco.test", vertical="retail")
    with pytest.raises(RuleError) as err:
        await world.start(customer=NewCustomer(**customer, country="US", numbers=["+14155550100"]))
    assert [(v.rule, v.field) for v in err.value.violations] == [("TR-E5", "customer.numbers")]
    twice = _trial_request(country="US", numbers=["+14155550101", "+1 415 555 0101"])
    assert [(v.rule, v.field) for v in check_request(twice, TrialPolicy())] == [
        ("TR-S2", "customer.numbers")
    ]


def test_time_zone_by_iana_name():
    """zoneinfo: an IANA name in its canonical spelling; ``Mars/Olympus`` is refused, at the
    type and by TR-S2's start rules."""
    assert normalize_time_zone("europe/oslo") == "Europe/Oslo"
    assert normalize_time_zone(" UTC ") == "UTC"
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "x" * 65):
        with pytest.raises(ValueError):
            normalize_time_zone(bad)
    req = _trial_request(country="US", timezone="Mars/Olympus")
    assert [(v.rule, v.field) for v in check_request(req, TrialPolicy())] == [
        ("TR-S2", "customer.timezone")
    ]


def test_types_refuse_naming_the_field():
    """Each annotated type refuses with the field's name (pydantic's ``loc``)."""
    good = dict(email="a@x.test", phone="+14155550100", zone="UTC", country="US")
    for name, bad in (
        ("email", "a@localhost"),
        ("phone", "555"),
        ("zone", "Mars/Olympus"),
        ("country", "XX"),
    ):
        with pytest.raises(ValidationError) as err:
            _Contact(**{**good, name: bad})
        assert [e["loc"] for e in err.value.errors()] == [(name,)]
