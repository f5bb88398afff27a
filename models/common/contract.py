"""What every lifecycle's JSON contract is built from.

- ``Stored``: payloads Temporal keeps (workflow inputs, continue-as-new carries, activity
  arguments and results, query results). They ignore fields they do not know, so a later
  release may add or drop a field without breaking the replay of running lifecycles.
- ``Command``: what callers send (signals, updates, API bodies). Unknown fields are refused,
  so a misspelt field is an error naming it rather than a silently ignored value.
- ``ActivityRef``: an activity as the workflows know it, by name and result type, so
  workflows never import the activities' code (``workflows`` and ``activities`` are
  independent layers; see docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

R = TypeVar("R")


class Stored(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RejectedMessage(Stored):
    """A signal the workflow could not take (no input, two inputs, a malformed payload, an
    unknown name): kept where an operator sees it, in the status query and the UI."""

    name: str = Field(max_length=200)
    at: datetime
    reason: str = Field(max_length=500)


class StepFailure(Stored):
    """A step whose activity failed for good (retries spent, or an error that cannot heal):
    the lifecycle waits in state ``error`` until an operator sends the ``retry`` update."""

    step: str = Field(max_length=200)
    message: str = Field(max_length=1000)
    at: datetime
    state: str = Field(max_length=40, description="the state to go back to on retry")


@dataclass(frozen=True)
class ActivityRef(Generic[R]):
    """An activity's name (the ``@activity.defn`` method's name) and its result type."""

    name: str
    result: Any = None  # the result's type hint: None for activities that return nothing


def activity_names(namespace: type) -> set[str]:
    """Every ``ActivityRef`` declared on a lifecycle's activity namespace class."""
    return {v.name for v in vars(namespace).values() if isinstance(v, ActivityRef)}
