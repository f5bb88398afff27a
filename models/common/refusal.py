"""Refusals, one type for every lifecycle: a refusal names the rule, the field and what is
wrong, and changes nothing.

- Rules raise ``RuleError([Violation(rule, field, message)])`` (``raise_if(violations)``).
- To a Temporal caller it travels as a non-retryable ``ApplicationError`` of type
  ``RuleViolation`` whose details are the violations' dicts (``to_application_error``);
  ``RuleError.from_failure`` rebuilds it on the caller's side with the details intact.
- The HTTP API maps it once to ``{errorCode, description, errors[].field}`` (api/errors.py),
  with the violation's ``code`` (the API's errorCode) and ``status`` (HTTP); the CLI maps it
  once to exit 2 (scripts/cli/common.py ``run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from temporalio.exceptions import ApplicationError

RULE_VIOLATION = "RuleViolation"
INVALID = 10001  # the errorCode of a malformed or missing field (HTTP 400)


@dataclass(frozen=True)
class Violation:
    rule: str
    field: str
    message: str
    # For the HTTP API: the errorCode (Webex style) and status; a violation without them is
    # a malformed request (400, INVALID).
    code: int | None = None
    status: int | None = None

    def __str__(self) -> str:
        if self.rule:
            return f"{self.rule} ({self.field}): {self.message}"
        return f"{self.field}: {self.message}" if self.field else self.message

    @property
    def description(self) -> str:
        return str(self)

    @property
    def http_status(self) -> int:
        return self.status or 400

    @property
    def error_code(self) -> int:
        return self.code or INVALID

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"rule": self.rule, "field": self.field, "message": self.message}
        if self.code is not None:
            d["code"] = self.code
        if self.status is not None:
            d["status"] = self.status
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], **defaults: Any) -> Violation:
        """A violation from an ``ApplicationError``'s details (``defaults`` fill what the
        sender did not say, e.g. the API's code for a workflow's refusal)."""
        values = {
            **defaults,
            **{
                k: d[k]
                for k in ("rule", "field", "message", "code", "status")
                if d.get(k) is not None
            },
        }
        return cls(
            rule=str(values.get("rule", "")),
            field=str(values.get("field", "")),
            message=str(values.get("message", "")),
            code=values.get("code"),
            status=values.get("status"),
        )


class RuleError(Exception):
    """One or more rules refused a request; nothing was written."""

    def __init__(self, violations: list[Violation]) -> None:
        if not violations:
            raise ValueError("a refusal names at least one violation")
        self.violations = violations
        super().__init__("; ".join(str(v) for v in violations))

    @classmethod
    def one(
        cls,
        rule: str,
        field: str,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
    ) -> RuleError:
        return cls([Violation(rule, field, message, code, status)])

    @property
    def status(self) -> int:
        """HTTP: 400 when the request itself is wrong, else the first violation's status."""
        if any(v.http_status == 400 for v in self.violations):
            return 400
        return self.violations[0].http_status

    def to_application_error(self) -> ApplicationError:
        """Non-retryable: asking again will not change the answer."""
        return ApplicationError(
            str(self),
            *[v.as_dict() for v in self.violations],
            type=RULE_VIOLATION,
            non_retryable=True,
        )

    @classmethod
    def from_failure(cls, err: BaseException, **defaults: Any) -> RuleError | None:
        """The refusal inside a Temporal failure (an ``ApplicationError`` or the cause of an
        update/workflow/activity error), its details intact; ``None`` if it is not one."""
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = getattr(cause, "cause", None) or cause.__cause__
        if cause is None:
            return None
        # one dict per violation (a list of them from releases before this one)
        flat = [x for d in cause.details for x in (d if isinstance(d, list) else [d])]
        details = [d for d in flat if isinstance(d, Mapping)]
        if details:
            return cls([Violation.from_dict(d, **defaults) for d in details])
        if cause.type != RULE_VIOLATION:
            return None
        return cls([Violation.from_dict({"message": cause.message}, **defaults)])


def raise_if(violations: list[Violation]) -> None:
    if violations:
        raise RuleError(violations)
