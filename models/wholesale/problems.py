"""A refused wholesale request: every problem found, each with its HTTP status, error code,
rule and field. The API renders them as ``{errorCode, description}`` bodies (Webex style);
precheck reports them all at once."""

from __future__ import annotations

from dataclasses import dataclass

# errorCode values, one per kind of problem (numbers in the style of Webex's error codes).
INVALID = 10001  # malformed or missing field
UNAUTHORIZED = 10010
FORBIDDEN = 10011
NOT_FOUND = 10012
RATE_LIMITED = 10013
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
PSTN_MISSING = 2561  # per package, asynchronous (PX-1)
COMPLIANCE_HOLD = 4300  # WH-C2
COMPLIANCE_ESCALATED = 4301
ATTACH_REFUSED = 4310  # PX-4
ATTACH_LAPSED = 4311  # PX-4: not answered in time
CALLING_DISABLED = 2570  # warning


@dataclass(frozen=True)
class Problem:
    status: int
    code: int
    rule: str
    field: str
    message: str

    @property
    def description(self) -> str:
        if self.rule:
            return f"{self.rule} ({self.field}): {self.message}"
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_error(self) -> dict[str, object]:
        return {"errorCode": self.code, "description": self.description, "field": self.field}


def bad(rule: str, field: str, message: str) -> Problem:
    return Problem(400, INVALID, rule, field, message)


def conflict(code: int, rule: str, field: str, message: str) -> Problem:
    return Problem(409, code, rule, field, message)


class Refused(Exception):
    """One or more problems; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        assert problems
        self.problems = problems
        super().__init__("; ".join(p.description for p in problems))

    @property
    def status(self) -> int:
        """400 when the request itself is wrong, else the first problem's status."""
        if any(p.status == 400 for p in self.problems):
            return 400
        return self.problems[0].status


def raise_all(problems: list[Problem]) -> None:
    if problems:
        raise Refused(problems)


def error(code: int, rule: str, text: str) -> dict[str, object]:
    """An asynchronous error or warning as stored on the customer (PX-1)."""
    return {"errorCode": code, "description": f"{rule}: {text}"}
