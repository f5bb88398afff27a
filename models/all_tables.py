"""Imports every table module, so Alembic's metadata (and tests) see every table."""

from models.billing import tables as billing_tables  # noqa: F401
from models.common import tables as common_tables  # noqa: F401
from models.devices import contract as devices_tables  # noqa: F401
from models.orders import tables as orders_tables  # noqa: F401
from models.wholesale import tables as wholesale_tables  # noqa: F401
