"""Pure wholesale rules (no store): packages (WH-P1), locale (WH-C4), package levels (WH-S2),
and the normalised names the compliance screening compares (WH-C2). The call-in number
(WH-C3) comes from the one country table, ``models.common.countries``."""

from __future__ import annotations

import re
import unicodedata

from models.common.countries import call_in_number as call_in_number  # WH-C3

# WH-P1: the packages offered at launch. Subscribers hold exactly one of the user packages.
CUSTOMER_PACKAGES = (
    "common_area_calling",
    "webex_voice",
    "webex_calling",
    "webex_suite",
    "webex_meetings",
)
SUBSCRIBER_PACKAGES = ("webex_voice", "webex_calling", "webex_suite", "webex_meetings")
CALLING_PACKAGES = frozenset({"common_area_calling", "webex_voice", "webex_calling", "webex_suite"})
# WH-P2: every package except meetings needs the template's cloud-connected PSTN provider.
NEEDS_PSTN = frozenset(p for p in CUSTOMER_PACKAGES if p != "webex_meetings")
# WH-S2: an admin never goes below the level of the org's creation.
PACKAGE_LEVEL = {"webex_meetings": 1, "webex_voice": 1, "webex_calling": 2, "webex_suite": 3}

EXTENSION = re.compile(r"^[0-9]{2,10}$")

# --- WH-C4: locale -------------------------------------------------------------------------

LOCALES: dict[str, tuple[str, ...]] = {  # each language's default first
    "en": ("en_US", "en_AU", "en_GB", "en_CA"),
    "fr": ("fr_FR", "fr_CA"),
    "cs": ("cs_CZ",),
    "da": ("da_DK",),
    "de": ("de_DE",),
    "hu": ("hu_HU",),
    "id": ("id_ID",),
    "it": ("it_IT",),
    "ja": ("ja_JP",),
    "ko": ("ko_KR",),
    "es": ("es_ES", "es_CO", "es_MX"),
    "nl": ("nl_NL",),
    "nb": ("nb_NO",),
    "pl": ("pl_PL",),
    "pt": ("pt_PT", "pt_BR"),
    "ru": ("ru_RU",),
    "ro": ("ro_RO",),
    "zh": ("zh_CN", "zh_TW"),
    "sv": ("sv_SE",),
    "ar": ("ar_SA",),
    "tr": ("tr_TR",),
}
SUPPORTED_LOCALES = frozenset(loc for locs in LOCALES.values() for loc in locs)
MEETINGS_UNSUPPORTED = frozenset({"es_CO", "id_ID", "nb_NO", "pt_PT"})
DEFAULT_LOCALE = "en_US"


def resolve_locale(language: str | None, template_country: str, template_language: str) -> str:
    """WH-C4: the org's locale from the customer's language (else the template's)."""
    raw = (language or "").strip().strip("'\"") or template_language
    raw = raw.replace("-", "_")
    if len(raw) == 2:
        lang = raw.lower()
        candidate = f"{lang}_{template_country.upper()}"
        if candidate in SUPPORTED_LOCALES:
            return candidate
        return LOCALES[lang][0] if lang in LOCALES else DEFAULT_LOCALE
    if len(raw) == 5 and raw[2] == "_":
        candidate = f"{raw[:2].lower()}_{raw[3:].upper()}"
        if candidate in SUPPORTED_LOCALES:
            return candidate
        lang = raw[:2].lower()
        return LOCALES[lang][0] if lang in LOCALES else DEFAULT_LOCALE
    return DEFAULT_LOCALE  # missing or invalid: English


def meetings_locale(org_locale: str) -> str:
    """WH-C4: meetings sites lack a few locales and use English for them."""
    if org_locale not in SUPPORTED_LOCALES or org_locale in MEETINGS_UNSUPPORTED:
        return DEFAULT_LOCALE
    return org_locale


# --- WH-C2: names compared by the screening ------------------------------------------------

_LEGAL_SUFFIXES = frozenset(
    "inc ltd llc gmbh ag sa sas bv nv plc co corp corporation limited company oy ab as".split()
)


def name_key(name: str) -> str:
    """Case, accents, punctuation and legal-form suffixes do not hide a listed party."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", text)
    while words and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None
