"""The search attributes shared by every lifecycle of the project.

A PostgreSQL-backed Temporal allows 10 Keyword and 3 Datetime attributes per namespace, so
all lifecycles share these few. None holds personal data: ids and states only.
"""

from typing import Any

from temporalio.common import SearchAttributeKey

LIFECYCLE_STATE = SearchAttributeKey.for_keyword("LifecycleState")
PARTNER_ORG_ID = SearchAttributeKey.for_keyword("PartnerOrgId")
CUSTOMER_ORG_ID = SearchAttributeKey.for_keyword("CustomerOrgId")
NEXT_DEADLINE_AT = SearchAttributeKey.for_datetime("NextDeadlineAt")
NEXT_DEADLINE_KIND = SearchAttributeKey.for_keyword("NextDeadlineKind")

ALL: list[SearchAttributeKey[Any]] = [
    LIFECYCLE_STATE,
    PARTNER_ORG_ID,
    CUSTOMER_ORG_ID,
    NEXT_DEADLINE_AT,
    NEXT_DEADLINE_KIND,
]
