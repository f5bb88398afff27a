"""Moved: the generic outbox is models/common/outbox.py; trial notices are
models/trials/notices.py and device notices models/devices/notices.py. This alias stays only
while lifecycles being written today still import the old path; import models.common.outbox."""

from models.common.outbox import (  # noqa: F401
    NoticeView,
    Recipient,
    Templates,
    deliver,
    org_emails,
    put,
    put_many,
    render,
)
