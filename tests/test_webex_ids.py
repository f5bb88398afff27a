"""Issue 9 (Cisco's spec): every column of every table that holds an org, customer,
sub-partner, subscriber, person or location id holds an id of Webex's shape and length
(migrations 0011 and 0012), so no lifecycle caps an id another accepts."""

from __future__ import annotations

from sqlmodel import SQLModel

import models.all_tables  # noqa: F401
from models.common.types import WEBEX_ID_MAX
from tests.webex import webex_id

ID_SUFFIXES = ("org_id", "customer_id", "subscriber_id", "person_id", "location_id")
BROADWORKS = {  # a migration's source ids: BroadWorks group ids, not Webex's
    ("migration_location", "location_id"),
    ("migration_user", "location_id"),
    ("migration_number", "location_id"),
}


def test_every_org_customer_and_location_id_column_holds_a_webex_id() -> None:
    assert 86 <= len(webex_id()) <= len(webex_id(padded=True)) == 88 <= WEBEX_ID_MAX
    columns = [
        (table.name, column.name, getattr(column.type, "length", None))
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if (column.name.endswith(ID_SUFFIXES) and (table.name, column.name) not in BROADWORKS)
        or (table.name in ("org", "setup_assist_project") and column.name == "id")
    ]
    assert len(columns) > 40
    short = [f"{t}.{c} ({n})" for t, c, n in columns if n is not None and n < WEBEX_ID_MAX]
    assert short == []
