"""Store failures that no retry can mend, told to Temporal as non-retryable errors.

A value PostgreSQL cannot hold (``DataError``: too long, out of range) or a row that breaks a
constraint (``IntegrityError``: a number or an email another org holds) fails the same way on
every attempt; retried, it would hold the workflow's lock for ever (issue 9). The error names
the operation, the record's id and the constraint, never the values: SQL error texts carry
customer emails and company names, which do not belong in logs or in workflow histories.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
