"""Ids of Webex's shape and length, for tests: base64 of ``ciscospark://us/<KIND>/<uuid>``
(88 characters padded for an org, 87 as Webex sends them, unpadded)."""

from __future__ import annotations

import base64
import uuid

from models.common.types import WEBEX_ID_MAX


def webex_id(kind: str = "ORGANIZATION", *, padded: bool = False) -> str:
    raw = base64.b64encode(f"ciscospark://us/{kind}/{uuid.uuid4()}".encode()).decode()
    return raw if padded else raw.rstrip("=")


def too_long(kind: str = "ORGANIZATION") -> str:
    """One character over what every id column holds."""
    wid = webex_id(kind)
    return (wid * (WEBEX_ID_MAX // len(wid) + 1))[: WEBEX_ID_MAX + 1]
