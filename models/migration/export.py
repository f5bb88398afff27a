"""The BroadWorks export: one enterprise (customer) per JSON file (PX-8: one customer per
extract), the input of the ``BroadWorksMigration`` lifecycle.

This module is the documented schema: ``BroadWorksExport.model_json_schema()`` is the JSON
Schema (``lifecycles migrate schema`` prints it), and ``examples/broadworks/pizza.json`` is a
small sample (``scripts/gen_broadworks.py`` writes large ones). The shape is deliberately
structural: every field has a type and a bound (what PostgreSQL holds), while what a value
*means* (a valid email, an E.164 number, a known package, a location that exists, a
duplicate) is judged by the precheck (``models.migration.rules.check_export``), which lists
every problem by user and field instead of stopping at the first.

    {
      "format": "broadworks-export/1",
      "exported_at": "2026-03-01T09:00:00Z",
      "enterprise": {"id": "ent-pizza", "name": "Pizza Co", "country": "US", ...},
      "locations": [{"id": "hq", "name": "Headquarters", "country": "US", ...}],
      "numbers": [{"number": "+14085550100", "location_id": "hq"}],
      "users": [{"id": "bw-1", "email": "ann@pizza.test", "package": "webex_calling",
                 "extension": "1001", "number": "+14085550101", "location_id": "hq", ...}],
      "devices": [{"model": "Cisco 8851", "mac": "00:1B:54:AA:BB:01", "owner": "bw-1"}],
      "soft_clients": [{"owner": "bw-1", "client": "uc_one", "platform": "desktop"}]
    }
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from models.common.contract import Command

FORMAT = "broadworks-export/1"
MAX_USERS = 20_000
MAX_NUMBERS = 40_000
MAX_DEVICES = 40_000
MAX_LOCATIONS = 500


def _storable(v: str) -> str:
    if "\x00" in v:
        raise ValueError("PostgreSQL text cannot hold a NUL character")
    return v


def Text(max_length: int, min_length: int = 0):
    return Annotated[
        str,
        StringConstraints(max_length=max_length, min_length=min_length, strip_whitespace=True),
        AfterValidator(_storable),
    ]


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]


class Address(Command):
    line1: Text(200) = ""  # type: ignore[valid-type]
    line2: Text(200) = ""  # type: ignore[valid-type]
    city: Text(120) = ""  # type: ignore[valid-type]
    state: Text(120) = ""  # type: ignore[valid-type]
    postal_code: Text(32) = ""  # type: ignore[valid-type]


class Enterprise(Command):
    id: Id = Field(
        description="The BroadWorks enterprise ID: the wholesale customer's external ID and "
        "part of the migration's workflow ID (letters, digits, . _ -)."
    )
    name: Text(200, 1) = Field(description="The company name of the customer org.")  # type: ignore[valid-type]
    country: Text(2, 2) = Field(description="ISO 3166 alpha-2 country of the org.")  # type: ignore[valid-type]
    language: Text(8) = Field("en", description="ll or ll_CC (WH-C4).")  # type: ignore[valid-type]
    admin_email: Text(254, 3) = Field(  # type: ignore[valid-type]
        description="The customer's primary contact (the wholesale customerInfo.primaryEmail)."
    )
    address: Address = Field(default_factory=Address)


class Location(Command):
    id: Id = Field(description="The BroadWorks group (site) ID.")
    name: Text(200, 1)  # type: ignore[valid-type]
    country: Text(2, 2)  # type: ignore[valid-type]
    timezone: Text(64) = ""  # type: ignore[valid-type]
    address: Address = Field(default_factory=Address)


class Number(Command):
    number: Text(24, 1) = Field(description="E.164, e.g. +14085550100.")  # type: ignore[valid-type]
    location_id: Id = Field(description="The location the number belongs to.")


class User(Command):
    id: Id = Field(description="The BroadWorks user ID (unique in the file).")
    first_name: Text(120, 1)  # type: ignore[valid-type]
    last_name: Text(120, 1)  # type: ignore[valid-type]
    email: Text(254, 1)  # type: ignore[valid-type]
    package: Text(32, 1) = Field(  # type: ignore[valid-type]
        description="The wholesale package: webex_voice, webex_calling, webex_suite or "
        "webex_meetings (WH-P1)."
    )
    extension: Text(16) | None = Field(None, description="2 to 10 digits.")  # type: ignore[valid-type]
    number: Text(24) | None = Field(  # type: ignore[valid-type]
        None, description="The user's primary number (E.164), one of the file's numbers."
    )
    location_id: Id | None = Field(None, description="The user's location (calling packages).")


class Device(Command):
    model: Text(80, 1) = Field(description="e.g. Cisco 8851, Polycom VVX 411.")  # type: ignore[valid-type]
    mac: Text(17, 12) = Field(description="12 hex digits, separators : or - allowed.")  # type: ignore[valid-type]
    owner: Id = Field(description="The ID of the user the phone belongs to.")


class SoftClient(Command):
    owner: Id
    client: Literal["uc_one"] = Field("uc_one", description="Upgraded to the Webex App (WH-M1).")
    platform: Literal["desktop", "mobile", "tablet"] = "desktop"


class BroadWorksExport(Command):
    """One BroadWorks enterprise, as exported for its migration to Webex Wholesale."""

    format: Literal["broadworks-export/1"] = FORMAT
    exported_at: datetime | None = None
    service_provider_id: Text(64) = ""  # type: ignore[valid-type]
    enterprise: Enterprise
    locations: list[Location] = Field(default_factory=list, max_length=MAX_LOCATIONS)
    numbers: list[Number] = Field(default_factory=list, max_length=MAX_NUMBERS)
    users: list[User] = Field(default_factory=list, min_length=1, max_length=MAX_USERS)
    devices: list[Device] = Field(default_factory=list, max_length=MAX_DEVICES)
    soft_clients: list[SoftClient] = Field(default_factory=list, max_length=MAX_DEVICES)
