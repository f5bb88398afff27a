"""Store failures that no retry can mend, told to Temporal as non-retryable errors.

A value PostgreSQL cannot hold (``DataError``: too long, out of range) or a row that breaks a
constraint (``IntegrityError``: a number or an email another org holds) fails the same way on
every attempt; retried, it would hold the workflow's lock for ever (issue 9). The error names
the operation, the record's id and the constraint, never the values: SQL error texts carry
customer emails and company names, which do not belong in logs or in workflow histories.

Any other failure's text is scrubbed (``scrub``, ``scrubbed``) before it leaves an activity
or reaches a log line: no email address, no SQL statement or parameters, no key value or
failing row that PostgreSQL quotes back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

STORE_REFUSED = "StoreRefused"
NOT_FOUND = "NotFound"


# A row may be missing for a moment: an update can reach a lifecycle while the activity that
# writes its first row is still running. After this many attempts (about 15 s with the
# shared backoff) it is missing for good.
NOT_FOUND_ATTEMPTS = 5


def not_found(what: str, key: str) -> ApplicationError:
    """A row that should be there is not. Inside an activity it is retried a few times (see
    ``NOT_FOUND_ATTEMPTS``), then refused for good; anywhere else at once."""
    early = activity.in_activity() and activity.info().attempt < NOT_FOUND_ATTEMPTS
    return ApplicationError(f"no {what} {key}", type=NOT_FOUND, non_retryable=not early)


def _cause(err: Exception) -> tuple[str, str]:
    """(SQLSTATE, constraint) of a psycopg error, without its text (which quotes values)."""
    orig = getattr(err, "orig", None)
    diag = getattr(orig, "diag", None)
    return (
        str(getattr(orig, "sqlstate", None) or "?"),
        str(getattr(diag, "constraint_name", None) or "-"),
    )


@contextmanager
def unhealable(operation: str, key: str) -> Iterator[None]:
    """Turn ``DataError`` and ``IntegrityError`` inside the block into a non-retryable
    ``ApplicationError`` (type ``StoreRefused``) naming ``operation``, ``key`` and the
    constraint; anything else (a lost connection) stays retryable."""
    try:
        yield
    except (DataError, IntegrityError) as err:
        sqlstate, constraint = _cause(err)
        kind = "value the store cannot hold" if isinstance(err, DataError) else "constraint"
        raise ApplicationError(
            f"{operation} {key}: {kind} (SQLSTATE {sqlstate}, constraint {constraint})",
            {"operation": operation, "key": key, "sqlstate": sqlstate, "constraint": constraint},
            type=STORE_REFUSED,
            non_retryable=True,
        ) from None


# --- scrubbing personal data out of error texts ---------------------------------------------

EMAIL_PLACEHOLDER = "<email>"
EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
# SQLAlchemy appends the statement, its parameters (the values written) and a help link.
_SQL_TAIL = re.compile(r"\s*\[(?:SQL|parameters): .*", re.S)
# PostgreSQL quotes values back: "Key (email)=(a@b.test) already exists", "Failing row
# contains (...)", 'invalid input syntax for type integer: "abc"'.
_KEY_VALUE = re.compile(r"\)=\((?:[^()]|\([^()]*\))*\)")
_FAILING_ROW = re.compile(r"(Failing row contains )\(.*?\)(?=\.?\s*$)", re.M)
_QUOTED_INPUT = re.compile(r"(invalid input (?:syntax|value) for [^:]*: )\"[^\"]*\"")
LIMIT = 1000  # a failure's message is kept this long (StepFailure.message)


def scrub(text: str) -> str:
    """``text`` without personal data: emails become ``<email>``; SQL statements,
    parameters, quoted key values and failing rows are cut. Ids, SQLSTATEs, constraint and
    column names stay, so the failure can still be traced."""
    text = _SQL_TAIL.sub("", text)
    text = _KEY_VALUE.sub(")=(…)", text)
    text = _FAILING_ROW.sub(r"\1(…)", text)
    text = _QUOTED_INPUT.sub(r'\1"…"', text)
    return EMAIL.sub(EMAIL_PLACEHOLDER, text)[:LIMIT]


def _scrub_value(v: Any) -> Any:
    if isinstance(v, str):
        return scrub(v)
    if isinstance(v, dict):
        return {k: _scrub_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_scrub_value(x) for x in v]
    return v


def scrubbed(err: BaseException) -> ApplicationError:
    """``err`` as an ``ApplicationError`` that carries no personal data: its message and
    string details scrubbed, its type (the class name for other errors, so retry policies
    still match it), retryability and retry delay kept, its cause chain dropped (a cause
    would carry the original text into the failure). Raise it ``from None``."""
    if isinstance(err, ApplicationError):
        out = ApplicationError(
            scrub(err.message),
            *(_scrub_value(d) for d in err.details),
            type=err.type,
            non_retryable=err.non_retryable,
            next_retry_delay=err.next_retry_delay,
            category=err.category,
        )
    else:
        out = ApplicationError(scrub(str(err)) or type(err).__name__, type=type(err).__name__)
    return out
