"""Every workflow and activity the worker serves, from one list each."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from activities.billing.activities import BillingActivities
from activities.common import Deps
from activities.devices.activities import DeviceActivities
from activities.migration.activities import MigrationActivities
from activities.orders.activities import OrderActivities
from activities.setup_assist.activities import SetupAssistActivities
from activities.trials.activities import TrialActivities
from activities.wholesale.activities import WholesaleActivities
from workflows.billing.workflow import BillingReport, BillingUsageClose
from workflows.devices.workflow import DeviceTrial
from workflows.migration.workflow import BroadWorksMigration
from workflows.orders.workflow import SubscriptionOrder
from workflows.setup_assist.workflow import SetupAssistProject
from workflows.trials.workflow import TrialLifecycle
from workflows.wholesale.workflow import WholesaleCustomerProvisioning

WORKFLOWS: Sequence[type] = [TrialLifecycle, DeviceTrial, WholesaleCustomerProvisioning]
WORKFLOWS = [*WORKFLOWS, BroadWorksMigration]
WORKFLOWS = [*WORKFLOWS, SubscriptionOrder]
WORKFLOWS = [*WORKFLOWS, BillingReport, BillingUsageClose]
WORKFLOWS = [*WORKFLOWS, SetupAssistProject]


ACTIVITY_CLASSES: Sequence[type] = [TrialActivities, DeviceActivities, WholesaleActivities]
ACTIVITY_CLASSES = [*ACTIVITY_CLASSES, MigrationActivities]
ACTIVITY_CLASSES = [*ACTIVITY_CLASSES, OrderActivities]
ACTIVITY_CLASSES = [*ACTIVITY_CLASSES, BillingActivities]
ACTIVITY_CLASSES = [*ACTIVITY_CLASSES, SetupAssistActivities]


def activities(deps: Deps) -> list[Callable[..., Any]]:
    """Every ``@activity.defn`` method of every activity class, bound to its dependencies."""
    bound = []
    for cls in ACTIVITY_CLASSES:
        instance = cls(deps)
        bound += [
            getattr(instance, name)
            for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if hasattr(fn, "__temporal_activity_definition")
        ]
    return bound
