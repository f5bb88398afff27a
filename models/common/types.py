"""One definition each of the values libraries know better than we do: emails
(``email-validator``), phone numbers (``phonenumbers``), time zones (``zoneinfo``, with
``tzdata`` where the system has no zone files) and countries (``pycountry``, see
``models.common.countries``).

Each has a plain function that normalises a value or raises ``ValueError`` with a message a
caller can act on, a ``*_problem`` variant for rules that collect violations, and an
annotated type for pydantic models: ``Email``, ``Phone``, ``TimeZone``, ``CountryCode``.
Put the types on what callers send (commands, API bodies); payloads Temporal stores were
checked when they came in and keep plain bounded strings, so a newer library release can
never make a running lifecycle's history undecodable.

No network at run time: ``email-validator`` is called with ``check_deliverability=False``
(no DNS lookups).
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from typing import Annotated

import email_validator
import phonenumbers
from pydantic import AfterValidator, StringConstraints, WithJsonSchema

from models.common.countries import country_problem

EMAIL_MAX = 254  # RFC 5321's limit on a forward path, and the width of every email column
PHONE_MAX = 32  # "+1 (415) 555-0100 ext. 1234" and its like, as typed
TIME_ZONE_MAX = 64
# Ids of Webex's shape and length: base64 of ``ciscospark://us/ORGANIZATION/<uuid>`` is 88
# characters (87 unpadded; a person's 80, a location's longer). Every column holding an org,
# customer, sub-partner, subscriber, person or location id is this wide (migrations 0011,
# 0012), this system's own ids (``p-<hex>``, 32-character hex) included.
WEBEX_ID_MAX = 256


# Pure functions of their text (no DNS, no clock), called several times per request (a
# trial start checks, normalizes and stores the same number and emails): each distinct
# text is parsed once per process. Refusals (ValueError) are not cached.
@functools.lru_cache(maxsize=4096)
def normalize_email(value: str) -> str:
    """An email address as email-validator normalises it (the domain in lower case).

    No DNS lookups. The special-use domain ``.test`` (RFC 6761) passes, as tests and demos
    use it and mail to it never leaves; ``localhost`` and the other special-use names do not.
    A display name (``Ann <ann@example.com>``) is not an address and is refused.
    """
    if len(value) > EMAIL_MAX:
        raise ValueError(f"an email address has at most {EMAIL_MAX} characters")
    try:
        checked = email_validator.validate_email(
            value.strip(),
            check_deliverability=False,
            test_environment=True,
            allow_display_name=False,
        )
    except email_validator.EmailNotValidError as err:
        raise ValueError(f"not an email address: {err}") from None
    return checked.normalized


@functools.lru_cache(maxsize=4096)
def normalize_phone(value: str) -> str:
    """A phone number in E.164 (``+14155550100``), however it was spaced or punctuated.

    The number must be international (``+`` and the country calling code) and of a possible
    length for its country; whether a number is in service is the carrier's business.
    """
    if len(value) > PHONE_MAX:
        raise ValueError(f"a phone number has at most {PHONE_MAX} characters")
    text = value.strip()
    if not text.startswith("+"):
        raise ValueError(f"{text!r}: give the number in international form, e.g. +14155550100")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as err:
        raise ValueError(f"{text!r} is not a phone number: {err}") from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise ValueError(f"{text!r} is not a phone number of a possible length")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Every IANA zone name, read once at import (the workflow sandbox never scans files), by its
# lower-case spelling so that ``europe/oslo`` is ``Europe/Oslo``.
_ZONES = {name.lower(): name for name in zoneinfo.available_timezones()}


def normalize_time_zone(value: str) -> str:
    """An IANA time zone name (``Europe/Oslo``, ``UTC``) in its canonical spelling."""
    if len(value) > TIME_ZONE_MAX:
        raise ValueError(f"a time zone name has at most {TIME_ZONE_MAX} characters")
    name = _ZONES.get(value.strip().lower())
    if name is None:
        raise ValueError(f"{value!r} is not an IANA time zone, e.g. Europe/Oslo or UTC")
    return name


def normalize_country(value: str) -> str:
    """An ISO 3166 alpha-2 code of a supported country, in upper case."""
    if problem := country_problem(value):
        raise ValueError(problem)
    return value.strip().upper()


def problem(normalize: Callable[[str], str], value: str | None) -> str | None:
    """Why ``value`` fails ``normalize`` (None if it passes): for rules that collect every
    violation before refusing."""
    try:
        normalize(value or "")
    except ValueError as err:
        return str(err)
    return None


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=EMAIL_MAX),
    AfterValidator(normalize_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": EMAIL_MAX}),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=PHONE_MAX),
    AfterValidator(normalize_phone),
    WithJsonSchema({"type": "string", "maxLength": PHONE_MAX, "examples": ["+14155550100"]}),
]
TimeZone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TIME_ZONE_MAX),
    AfterValidator(normalize_time_zone),
    WithJsonSchema({"type": "string", "maxLength": TIME_ZONE_MAX, "examples": ["Europe/Oslo"]}),
]
WebexId = Annotated[str, StringConstraints(min_length=1, max_length=WEBEX_ID_MAX)]
CountryCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=2),
    AfterValidator(normalize_country),
    WithJsonSchema({"type": "string", "minLength": 2, "maxLength": 2, "examples": ["US"]}),
]
