"""What every activity class is built with: the outside world, given once by the worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.common.db import Database
from models.common.mail import Mailer
from models.trials.contract import DevicePolicy


@dataclass
class Deps:
    db: Database
    mailer: Mailer
    # The device settings of this worker, for trials started before the device policy was
    # snapshotted in their input (patch ``device-policy-in-trial-input``).
    device_policy: DevicePolicy = field(default_factory=DevicePolicy)


class Activities:
    """Base of each lifecycle's activity class: its ``@activity.defn`` methods share deps."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.db = deps.db
        self.mailer = deps.mailer
