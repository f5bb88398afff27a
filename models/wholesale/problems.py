"""The wholesale API's error codes (Webex style) and the refusals that carry them: a
refused request is a ``RuleError`` (models/common/refusal.py) of ``Violation``s, each with
its rule, field, message, errorCode and HTTP status; api/errors.py renders them as
``{errorCode, description, errors[]}`` bodies and precheck reports them all at once."""

from __future__ import annotations

from models.common.refusal import INVALID as INVALID
from models.common.refusal import Violation

# errorCode values, one per kind of problem (numbers in the style of Webex's error codes).
# INVALID = 10001: a malformed or missing field (models.common.refusal)
UNAUTHORIZED = 10010
FORBIDDEN = 10011
NOT_FOUND = 10012
RATE_LIMITED = 10013
UNAVAILABLE = 10503  # Temporal (or another service) is not answering: retry
TEMPLATE = 10020  # WH-P2
CUSTOMER_EXISTS = 10030  # external ID / org already a wholesale customer
ORG_UNKNOWN = 10031
CUSTOMER_BUSY = 10032  # PX-3: a change is in flight
PACKAGE_HELD = 10033  # WH-C5: subscribers still hold a package being removed
SUBSCRIBER_ELSEWHERE = 10040  # WH-S3
EMAIL_IN_USE = 10041  # WH-S3
PARAMETER_CONFLICT = 10042  # WH-S3
ADMIN_DOWNGRADE = 10043  # WH-S2
NOT_PENDING = 10044  # PX-2
IDEMPOTENCY_MISMATCH = 10050
SUB_PARTNER_SUSPENDED = 10060  # PX-6
RESTRICTED_BY_PARTNER = 10061  # WH-C6, WH-M3: a customer admin refused in restricted mode
PARTNER_ONLY = 10062  # a customer admin's token on a partner's operation
PSTN_MISSING = 2561  # per package, asynchronous (PX-1)
COMPLIANCE_HOLD = 4300  # WH-C2
COMPLIANCE_ESCALATED = 4301
ATTACH_REFUSED = 4310  # PX-4
ATTACH_LAPSED = 4311  # PX-4: not answered in time
ATTACH_PENDING = 4312  # PX-4: waiting for the org admin's approval (status provisioning)
CALLING_DISABLED = 2570  # warning


def bad(rule: str, field: str, message: str) -> Violation:
    """The request itself is wrong (400)."""
    return Violation(rule, field, message, INVALID, 400)


def conflict(code: int, rule: str, field: str, message: str) -> Violation:
    """The request conflicts with what exists (409)."""
    return Violation(rule, field, message, code, 409)


def error(code: int, rule: str, text: str) -> dict[str, object]:
    """An asynchronous error or warning as stored on the customer (PX-1)."""
    return {"errorCode": code, "description": f"{rule}: {text}"}
