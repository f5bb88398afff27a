"""Imports every table module, so Alembic's metadata (and tests) see every table."""

from models.billing import tables as billing_tables  # noqa: F401
from models.common import tables as common_tables  # noqa: F401
from models.devices import tables as devices_tables  # noqa: F401
from models.migration import tables as migration_tables  # noqa: F401
from models.orders import tables as orders_tables  # noqa: F401
from models.setup_assist import tables as setup_assist_tables  # noqa: F401
from models.trials import tables as trials_tables  # noqa: F401
from models.wholesale import tables as wholesale_tables  # noqa: F401
