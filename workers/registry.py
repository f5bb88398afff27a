"""Every workflow and activity the worker serves, from one list each."""

from __future__ import annotations

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


def activities(deps: Deps) -> list[Callable[..., Any]]:
    trial = TrialActivities(deps.db, deps.mailer)
    return [
        trial.open_trial,
        trial.provision_trial,
        trial.record_trial,
        trial.check_services_available,
        trial.check_full_admin,
        trial.record_consent,
        trial.send_notices,
        trial.end_trial_services,
        trial.migrate_to_free_org,
        trial.release_numbers,
        trial.convert_trial,
        trial.remove_pending_customer,
        *device_activities(deps),
        *wholesale_activities(deps),
    ]


def device_activities(deps: Deps) -> list[Callable[..., Any]]:
    devices = DeviceActivities(deps.db, deps.mailer)
    return [devices.device_policy, devices.record_devices, devices.send_device_notices]


def wholesale_activities(deps: Deps) -> list[Callable[..., Any]]:
    w = WholesaleActivities(deps.db, deps.mailer)
    return [
        w.provision_customer,
        w.refuse_attach,
        w.escalate_compliance,
        w.apply_customer_change,
        w.remove_customer,
    ]
