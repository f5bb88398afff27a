"""One table of countries, keyed by ISO 3166-1 alpha-2 code, and every region a rule derives
from the country:

- ``residency``: the data-residency region of a new org (TR-S2),
- ``telephony`` and ``call_in``: the default global call-in number of a meetings site (WH-C3),
- ``device_region`` and ``return_carrier``: who takes trial devices back (DV-3).

The codes and names come from ``pycountry`` (the ISO 3166 database). Where a country lies
comes from the UN M49 geographic sub-regions below: no small, maintained Python library
ships them (``pycountry_convert`` needs pytest at run time; ``country_converter`` needs
pandas, and 1.3.2 fails to load with pandas 3.1), so they are kept here, once, as data; a
test checks that every ISO country but Antarctica has exactly one. Calling codes come
from ``phonenumbers``. Every region is computed once, at import, for every country.

A code that is not an ISO country, or a country without a region (Antarctica), is refused
by ``country()`` with a rule error naming the field; nothing falls back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import phonenumbers
import pycountry

from models.common.refusal import RuleError

Residency = Literal["north_america", "south_america", "europe", "mideast_africa", "asia_pacific"]
Telephony = Literal["americas", "apac", "anz", "emea", "eu"]
DeviceRegion = Literal["US", "CA", "AU", "EMEAR"]
Carrier = Literal["UPS", "DHL", "Expeditors"]

# UN M49 (https://unstats.un.org/unsd/methodology/m49/): region → sub-region (the
# intermediate region for the Americas and sub-Saharan Africa) → ISO alpha-2 codes.
# Taiwan is listed under Eastern Asia (M49 has no row of its own for it).
UN_M49: dict[str, dict[str, str]] = {
    "Africa": {
        "Northern Africa": "DZ EG LY MA SD TN EH",
        "Eastern Africa": "IO BI KM DJ ER ET TF KE MG MW MU YT MZ RE RW SC SO SS UG TZ ZM ZW",
        "Middle Africa": "AO CM CF TD CG CD GQ GA ST",
        "Southern Africa": "BW SZ LS NA ZA",
        "Western Africa": "BJ BF CV CI GM GH GN GW LR ML MR NE NG SH SN SL TG",
    },
    "Americas": {
        "Caribbean": "AI AG AW BS BB BQ VG KY CU CW DM DO GD GP HT JM MQ MS PR BL KN LC MF VC "
        "SX TT TC VI",
        "Central America": "BZ CR SV GT HN MX NI PA",
        "South America": "AR BO BV BR CL CO EC FK GF GY PY PE GS SR UY VE",
        "Northern America": "BM CA GL PM US",
    },
    "Asia": {
        "Central Asia": "KZ KG TJ TM UZ",
        "Eastern Asia": "CN HK MO KP JP MN KR TW",
        "South-eastern Asia": "BN KH ID LA MY MM PH SG TH TL VN",
        "Southern Asia": "AF BD BT IN IR MV NP PK LK",
        "Western Asia": "AM AZ BH CY GE IQ IL JO KW LB OM QA SA PS SY TR AE YE",
    },
    "Europe": {
        "Eastern Europe": "BY BG CZ HU PL MD RO RU SK UA",
        "Northern Europe": "AX DK EE FO FI GG IS IE IM JE LV LT NO SJ SE GB",
        "Southern Europe": "AL AD BA HR GI GR VA IT MT ME MK PT SM RS SI ES",
        "Western Europe": "AT BE FR DE LI LU MC NL CH",
    },
    "Oceania": {
        "Australia and New Zealand": "AU CX CC HM NZ NF",
        "Melanesia": "FJ NC PG SB VU",
        "Micronesia": "GU KI MH FM NR MP PW UM",
        "Polynesia": "AS CK PF NU PN WS TK TO TV WF",
    },
}

# The 27 member states of the European Union (WH-C3's "EU" call-in region; TR-S2 keeps
# their data in Europe, Cyprus included, which M49 places in Western Asia).
EU_MEMBERS = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

# WH-C3: each telephony region's default global call-in number is that of one country; those
# countries (the telephony domain) have a number of their own. The number is the country's
# calling code (phonenumbers), e.g. +65 for Singapore.
CALL_IN_COUNTRY: dict[Telephony, str] = {
    "americas": "US",
    "apac": "SG",
    "anz": "AU",
    "emea": "GB",
    "eu": "DE",
}
TELEPHONY_DOMAIN = frozenset(CALL_IN_COUNTRY.values())

# DV-3: US → UPS with a return label in each box; Canada and EMEAR → DHL; Australia →
# Expeditors. EMEAR is Europe (Russia included), the Middle East and Africa.
RETURN_CARRIER: dict[DeviceRegion, Carrier] = {
    "US": "UPS",
    "CA": "DHL",
    "EMEAR": "DHL",
    "AU": "Expeditors",
}

_OWN_DEVICE_REGION: dict[str, DeviceRegion] = {"US": "US", "CA": "CA", "AU": "AU"}


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    name: str
    un_region: str  # UN M49 region: Africa, Americas, Asia, Europe, Oceania
    un_subregion: str
    residency: Residency
    telephony: Telephony
    call_in: str  # "+49"
    device_region: DeviceRegion | None  # None: no return carrier, devices do not ship there
    return_carrier: Carrier | None


def _residency(region: str, subregion: str, code: str) -> Residency:
    if region == "Europe" or code in EU_MEMBERS:
        return "europe"
    if region == "Americas":
        return "south_america" if subregion == "South America" else "north_america"
    if region == "Africa" or subregion == "Western Asia":
        return "mideast_africa"
    return "asia_pacific"  # the rest of Asia, and Oceania


def _telephony(residency: Residency, subregion: str, code: str) -> Telephony:
    if residency in ("north_america", "south_america"):
        return "americas"
    if subregion == "Australia and New Zealand":
        return "anz"
    if code in EU_MEMBERS:
        return "eu"
    return "apac" if residency == "asia_pacific" else "emea"


def _device_region(residency: Residency, code: str) -> DeviceRegion | None:
    if code in _OWN_DEVICE_REGION:
        return _OWN_DEVICE_REGION[code]
    if residency in ("europe", "mideast_africa"):
        return "EMEAR"
    return None


def _call_in(telephony: Telephony, code: str) -> str:
    """WH-C3: the country's own number if it is in the telephony domain, else its region's."""
    own = code if code in TELEPHONY_DOMAIN else CALL_IN_COUNTRY[telephony]
    return f"+{phonenumbers.country_code_for_region(own)}"


def _build() -> dict[str, Country]:
    where = {
        code: (region, subregion)
        for region, subregions in UN_M49.items()
        for subregion, codes in subregions.items()
        for code in codes.split()
    }
    table: dict[str, Country] = {}
    for iso in pycountry.countries:
        code = iso.alpha_2
        if code not in where:
            continue  # Antarctica: no region, so not supported
        region, subregion = where[code]
        residency = _residency(region, subregion, code)
        telephony = _telephony(residency, subregion, code)
        device_region = _device_region(residency, code)
        table[code] = Country(
            code=code,
            name=getattr(iso, "common_name", None) or iso.name,
            un_region=region,
            un_subregion=subregion,
            residency=residency,
            telephony=telephony,
            call_in=_call_in(telephony, code),
            device_region=device_region,
            return_carrier=RETURN_CARRIER[device_region] if device_region else None,
        )
    return table


COUNTRIES: Mapping[str, Country] = MappingProxyType(_build())


def country_problem(code: str | None) -> str | None:
    """Why ``code`` is not a supported country, or None if it is one."""
    c = (code or "").strip().upper()
    if not c:
        return "a country is required: an ISO 3166 two-letter code, e.g. US"
    if c in COUNTRIES:
        return None
    if len(c) == 2 and pycountry.countries.get(alpha_2=c) is not None:
        return f"{c} has no data-residency region: not a supported country"
    return f"{code!r} is not an ISO 3166 two-letter country code (e.g. US, DE, UA)"


def country(code: str | None, *, rule: str = "TR-S2", field: str = "country") -> Country:
    """The country of an ISO 3166 alpha-2 code (any case), or a refusal naming the field."""
    if problem := country_problem(code):
        raise RuleError.one(rule, field, problem)
    return COUNTRIES[(code or "").strip().upper()]


def region_of(code: str | None, *, rule: str = "TR-S2", field: str = "country") -> Residency:
    """TR-S2: the data-residency region the country decides."""
    return country(code, rule=rule, field=field).residency


def call_in_number(code: str | None, *, rule: str = "WH-C3", field: str = "country") -> str:
    """WH-C3: the country's own global call-in number, else its telephony region's."""
    return country(code, rule=rule, field=field).call_in
