"""Country → data-residency region (TR-S2: the country decides where data is kept)."""

from __future__ import annotations

_REGIONS: dict[str, frozenset[str]] = {
    "north_america": frozenset("US CA MX PR".split()),
    "south_america": frozenset("AR BR CL CO PE UY VE EC BO PY".split()),
    "europe": frozenset(
        "AT BE BG CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT "
        "RO SE SI SK".split()
    ),
    "asia_pacific": frozenset("AU NZ SG JP KR IN ID MY PH TH VN HK TW CN".split()),
    "middle_east_africa": frozenset("AE SA QA KW BH OM IL TR EG ZA NG KE MA".split()),
}


def region_of(country: str) -> str:
    for region, countries in _REGIONS.items():
        if country.upper() in countries:
            return region
    return "north_america"
