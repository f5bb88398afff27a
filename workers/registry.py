"""Every workflow and activity the worker serves, from one list each."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from activities.devices import DeviceActivities
from activities.mail import Mailer
from activities.trial import TrialActivities
from activities.wholesale import WholesaleActivities
from models.db import Database
from workflows.devices import DeviceTrial
from workflows.trial import TrialLifecycle
from workflows.wholesale import WholesaleCustomerProvisioning

WORKFLOWS: Sequence[type] = [TrialLifecycle, DeviceTrial, WholesaleCustomerProvisioning]


@dataclass
class Deps:
    """What activities need from the outside world."""

    db: Database
    mailer: Mailer


ACTIVITY_CLASSES: Sequence[type] = [TrialActivities, DeviceActivities, WholesaleActivities]


def activities(deps: Deps) -> list[Callable[..., Any]]:
    """Every ``@activity.defn`` method of every activity class, bound to its dependencies."""
    bound = []
    for cls in ACTIVITY_CLASSES:
        instance = cls(deps.db, deps.mailer)
        bound += [
            getattr(instance, name)
            for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if hasattr(fn, "__temporal_activity_definition")
        ]
    return bound
