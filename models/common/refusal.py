"""Rule violations: a refusal names the rule and the field, and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.exceptions import ApplicationError

RULE_VIOLATION = "RuleViolation"


@dataclass(frozen=True)
class Violation:
    rule: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.field}): {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "field": self.field, "message": self.message}


class RuleError(Exception):
    """One or more rules refused a request."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(str(v) for v in violations))

    @classmethod
    def one(cls, rule: str, field: str, message: str) -> RuleError:
        return cls([Violation(rule, field, message)])

    def to_application_error(self) -> ApplicationError:
        """Non-retryable: asking again will not change the answer."""
        return ApplicationError(
            str(self),
            [v.as_dict() for v in self.violations],
            type=RULE_VIOLATION,
            non_retryable=True,
        )


def raise_if(violations: list[Violation]) -> None:
    if violations:
        raise RuleError(violations)
