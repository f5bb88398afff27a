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

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final, Literal

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, Field, StringConstraints

from models.common.contract import Command

FORMAT: Final = "broadworks-export/1"
MAX_USERS = 20_000
MAX_NUMBERS = 40_000
MAX_DEVICES = 40_000
MAX_LOCATIONS = 500


def _storable(v: str) -> str:
    if "\x00" in v:
        raise ValueError("PostgreSQL text cannot hold a NUL character")
    return v


@dataclass(frozen=True)
class Text(GroupedMetadata):
    """Bounded text, stripped, that PostgreSQL can store: ``Annotated[str, Text(max, min)]``."""

    max_length: int
    min_length: int = 0

    def __iter__(self) -> Iterator[object]:
        yield from StringConstraints(
            max_length=self.max_length, min_length=self.min_length, strip_whitespace=True
        )
        yield AfterValidator(_storable)


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]


class Address(Command):
    line1: Annotated[str, Text(200)] = ""
    line2: Annotated[str, Text(200)] = ""
    city: Annotated[str, Text(120)] = ""
    state: Annotated[str, Text(120)] = ""
    postal_code: Annotated[str, Text(32)] = ""


class Enterprise(Command):
    id: Id = Field(
        description="The BroadWorks enterprise ID: the wholesale customer's external ID and "
        "part of the migration's workflow ID (letters, digits, . _ -)."
    )
    name: Annotated[str, Text(200, 1)] = Field(description="The company name of the customer org.")
    country: Annotated[str, Text(2, 2)] = Field(description="ISO 3166 alpha-2 country of the org.")
    language: Annotated[str, Text(8)] = Field("en", description="ll or ll_CC (WH-C4).")
    admin_email: Annotated[str, Text(254, 3)] = Field(
        description="The customer's primary contact (the wholesale customerInfo.primaryEmail)."
    )
    address: Address = Field(default_factory=Address)


class Location(Command):
    id: Id = Field(description="The BroadWorks group (site) ID.")
    name: Annotated[str, Text(200, 1)]
    country: Annotated[str, Text(2, 2)]
    timezone: Annotated[str, Text(64)] = ""
    address: Address = Field(default_factory=Address)


class Number(Command):
    number: Annotated[str, Text(24, 1)] = Field(description="E.164, e.g. +14085550100.")
    location_id: Id = Field(description="The location the number belongs to.")


class User(Command):
    id: Id = Field(description="The BroadWorks user ID (unique in the file).")
    first_name: Annotated[str, Text(120, 1)]
    last_name: Annotated[str, Text(120, 1)]
    email: Annotated[str, Text(254, 1)]
    package: Annotated[str, Text(32, 1)] = Field(
        description="The wholesale package: webex_voice, webex_calling, webex_suite or "
        "webex_meetings (WH-P1)."
    )
    extension: Annotated[str, Text(16)] | None = Field(None, description="2 to 10 digits.")
    number: Annotated[str, Text(24)] | None = Field(
        None, description="The user's primary number (E.164), one of the file's numbers."
    )
    location_id: Id | None = Field(None, description="The user's location (calling packages).")


class Device(Command):
    model: Annotated[str, Text(80, 1)] = Field(description="e.g. Cisco 8851, Polycom VVX 411.")
    mac: Annotated[str, Text(17, 12)] = Field(
        description="12 hex digits, separators : or - allowed."
    )
    owner: Id = Field(description="The ID of the user the phone belongs to.")


class SoftClient(Command):
    owner: Id
    client: Literal["uc_one"] = Field("uc_one", description="Upgraded to the Webex App (WH-M1).")
    platform: Literal["desktop", "mobile", "tablet"] = "desktop"


class BroadWorksExport(Command):
    """One BroadWorks enterprise, as exported for its migration to Webex Wholesale."""

    format: Literal["broadworks-export/1"] = FORMAT
    exported_at: datetime | None = None
    service_provider_id: Annotated[str, Text(64)] = ""
    enterprise: Enterprise
    locations: list[Location] = Field(default_factory=list, max_length=MAX_LOCATIONS)
    numbers: list[Number] = Field(default_factory=list, max_length=MAX_NUMBERS)
    users: list[User] = Field(default_factory=list, min_length=1, max_length=MAX_USERS)
    devices: list[Device] = Field(default_factory=list, max_length=MAX_DEVICES)
    soft_clients: list[SoftClient] = Field(default_factory=list, max_length=MAX_DEVICES)
