"""Wire models, shaped like Cisco's Webex Wholesale OpenAPI: camelCase JSON, the same field
names and enums. Requests refuse unknown fields (a typo is a 400 naming the field); every
string is bounded and must be storable text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from models.wholesale.contract import WEBEX_ID_MAX


def _storable(v: str) -> str:
    if "\x00" in v:
        raise ValueError("must not contain NUL characters")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return v


@dataclass(frozen=True)
class Text(GroupedMetadata):
    """Bounded, storable text, used as ``Annotated[str, Text(max_length, min_length)]``:
    the length bounds (in the JSON schema too) and then the storable-text check."""

    max_length: int
    min_length: int = 0

    def __iter__(self) -> Iterator[object]:
        yield from StringConstraints(max_length=self.max_length, min_length=self.min_length)
        yield AfterValidator(_storable)


# Webex ids (base64 of ``ciscospark://us/ORGANIZATION/<uuid>``, about 88 characters) are
# accepted wherever the caller names an id, up to what the wholesale columns hold; one that
# is not ours is simply unknown.
WEBEX_ID = WEBEX_ID_MAX

CustomerPackage = Literal[
    "common_area_calling", "webex_voice", "webex_calling", "webex_suite", "webex_meetings"
]
SubscriberPackage = Literal["webex_voice", "webex_calling", "webex_suite", "webex_meetings"]
CustomerStatus = Literal[
    "provisioning",
    "provisioned",
    "provisioned_with_errors",
    "updating",
    "deleting",
    "error",
    "pending_rpl_review",
]
PackageStatus = Literal["provisioning", "provisioned", "deleting", "error"]
SubscriberStatus = Literal["provisioned", "pending_user_migration"]
SubPartnerState = Literal["active", "suspended"]


class Wire(BaseModel):
    """A request body: camelCase, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# --- customers ------------------------------------------------------------------------------


class AddressIn(Wire):
    address_line1: Annotated[str, Text(50, 1)] = Field(description="Address line 1.")
    address_line2: Annotated[str, Text(50)] | None = None
    city: Annotated[str, Text(50, 1)]
    state_or_province: Annotated[str, Text(50)] | None = None
    zip_or_postal_code: Annotated[str, Text(20)] | None = None
    country: Annotated[str, Text(2, 2)] = Field(
        description="ISO2 country code: sets the call-in number (WH-C3)."
    )


class CustomerInfo(Wire):
    name: Annotated[str, Text(200, 1)]
    primary_email: Annotated[str, Text(254, 3)]
    language: Annotated[str, Text(16)] | None = Field(None, description="ll or ll_CC (WH-C4).")


class CustomerInfoPrecheck(Wire):
    name: Annotated[str, Text(200)] | None = None
    primary_email: Annotated[str, Text(254, 3)]
    language: Annotated[str, Text(16)] | None = None


class CallingLocation(Wire):
    name: Annotated[str, Text(80, 1)]
    address: AddressIn
    timezone: Annotated[str, Text(64, 1)]
    language: Annotated[str, Text(16, 1)]
    emergency_location_identifier: Annotated[str, Text(64)] | None = None


class CallingParameters(Wire):
    location: CallingLocation


class MeetingsParameters(Wire):
    timezone: Annotated[str, Text(64)] | None = None


class PackageLimits(Wire):
    limits: dict[
        CustomerPackage | Literal["cx_essentials", "webex_calling_standard", "attendant_console"],
        Annotated[int, Field(ge=0, le=1_000_000)],
    ] = Field(default_factory=dict)


class ProvisioningParameters(Wire):
    calling: CallingParameters | None = None
    meetings: MeetingsParameters | None = None
    packages: PackageLimits | None = None


class CustomerCreate(Wire):
    provisioning_id: Annotated[str, Text(64, 1)] = Field(
        description="The onboarding template's ID (WH-P2)."
    )
    packages: list[CustomerPackage] = Field(min_length=1, max_length=5)
    org_id: Annotated[str, Text(WEBEX_ID)] | None = Field(
        None, description="An existing org to attach (PX-4)."
    )
    external_id: Annotated[str, Text(256, 1)]
    address: AddressIn
    customer_info: CustomerInfo | None = Field(None, description="Required for a new org.")
    provisioning_parameters: ProvisioningParameters | None = None
    sub_partner_admin_email: Annotated[str, Text(254)] | None = None
    webex_for_broadworks: bool | None = Field(
        None,
        alias="webexForBroadWorks",
        description="WH-M2: a Webex-for-BroadWorks customer is refused here: it comes in only "
        "through migration (/v1/migrations).",
    )


class CustomerUpdate(Wire):
    external_id: Annotated[str, Text(256, 1)] | None = None
    packages: list[CustomerPackage] = Field(
        min_length=1, max_length=5, description="The complete list wanted afterwards (WH-C5)."
    )
    address: AddressIn | None = None
    provisioning_parameters: ProvisioningParameters | None = None
    sub_partner_admin_email: Annotated[str, Text(254)] | None = None


class CustomerPrecheck(Wire):
    provisioning_id: Annotated[str, Text(64)] | None = None
    packages: list[CustomerPackage] = Field(default_factory=list, max_length=5)
    org_id: Annotated[str, Text(WEBEX_ID)] | None = None
    external_id: Annotated[str, Text(256)] | None = None
    address: AddressIn
    customer_info: CustomerInfoPrecheck | None = None
    provisioning_parameters: ProvisioningParameters | None = None


class ErrorOut(Out):
    error_code: int
    description: str


class PackageOut(Out):
    name: CustomerPackage
    status: PackageStatus
    warnings: list[ErrorOut] = Field(default_factory=list)
    errors: list[ErrorOut] = Field(default_factory=list)


class ResourceDetails(Out):
    packages: list[PackageOut] = Field(default_factory=list)


class AddressOut(Out):
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state_or_province: str | None = None
    zip_or_postal_code: str | None = None
    country: str | None = None


class CustomerOut(Out):
    id: str
    org_id: str | None = Field(None, description="Only once provisioned.")
    external_id: str
    address: AddressOut
    status: CustomerStatus
    packages: list[CustomerPackage]
    resource_details: ResourceDetails
    errors: list[ErrorOut] = Field(default_factory=list)


class CustomerList(Out):
    items: list[CustomerOut]


class ResourceUrl(Out):
    url: str


class PrecheckInfo(Out):
    info_code: int
    description: str


class PrecheckOut(Out):
    message: str
    info: list[PrecheckInfo]


# --- subscribers ----------------------------------------------------------------------------


class SubscriberParams(Wire):
    first_name: Annotated[str, Text(120)] | None = None
    last_name: Annotated[str, Text(120)] | None = None
    primary_phone_number: Annotated[str, Text(24)] | None = None
    extension: Annotated[str, Text(16)] | None = None
    location_id: Annotated[str, Text(120)] | None = None


class SubscriberUpdateParams(Wire):
    primary_phone_number: Annotated[str, Text(24)] | None = None
    extension: Annotated[str, Text(16)] | None = None
    location_id: Annotated[str, Text(120)] | None = None


class SubscriberCreate(Wire):
    customer_id: Annotated[str, Text(WEBEX_ID, 1)]
    email: Annotated[str, Text(254, 1)]
    package: SubscriberPackage | None = None
    packages: list[SubscriberPackage] | None = Field(None, max_length=4)
    provisioning_parameters: SubscriberParams


class SubscriberUpdate(Wire):
    package: SubscriberPackage | None = None
    packages: list[SubscriberPackage] | None = Field(None, max_length=4)
    provisioning_parameters: SubscriberUpdateParams | None = None


class SubscriberPrecheck(Wire):
    provisioning_id: Annotated[str, Text(64)] | None = None
    customer_id: Annotated[str, Text(WEBEX_ID)] | None = None
    email: Annotated[str, Text(254, 1)]
    package: SubscriberPackage | None = None
    packages: list[SubscriberPackage] | None = Field(None, max_length=4)
    provisioning_parameters: SubscriberParams | None = None
    customer_info: CustomerInfoPrecheck | None = None


class SubscriberOut(Out):
    id: str
    person_id: str | None = None
    email: str
    customer_id: str
    external_customer_id: str
    package: SubscriberPackage
    packages: list[SubscriberPackage]
    status: SubscriberStatus
    is_admin: bool = Field(False, description="WH-S2: the customer's first subscriber.")
    errors: list[ErrorOut] = Field(default_factory=list)
    created: datetime
    last_status_change: datetime


class SubscriberList(Out):
    items: list[SubscriberOut]


# --- sub-partners and templates -------------------------------------------------------------


class SubPartnerOut(Out):
    org_id: str
    subscription_id: str
    provisioning_state: SubPartnerState
    created: datetime
    billing_start_date: datetime | None = None


class SubPartnerList(Out):
    items: list[SubPartnerOut]


class TemplateCreate(Wire):
    name: Annotated[str, Text(200, 1)]
    country: Annotated[str, Text(2, 2)]
    language: Annotated[str, Text(8, 2)] = "en"
    sp_admin_email: Annotated[str, Text(254, 3)] = Field(
        description="The service provider's admin."
    )
    subscription_id: Annotated[str, Text(80, 1)] = Field(description="The wholesale subscription.")
    auth_mode: Literal["webex", "partner_sso"] = "webex"
    idp_entity_id: Annotated[str, Text(300)] | None = Field(
        None, description="Required with partner_sso."
    )
    pstn_provider: Annotated[str, Text(120)] | None = Field(
        None, description="Cloud-connected PSTN provider: every package but webex_meetings."
    )
    brand_name: Annotated[str, Text(200, 1)]
    restrict_admin_invite_emails: bool = False
    disable_webex_calling: bool = False


class TemplateOut(Out):
    id: str = Field(description="The provisioning ID customers name.")
    name: str
    country: str
    language: str
    sp_admin_email: str
    subscription_id: str
    auth_mode: str
    idp_entity_id: str | None = None
    pstn_provider: str | None = None
    brand_name: str
    restrict_admin_invite_emails: bool
    disable_webex_calling: bool
    created: datetime


class TemplateList(Out):
    items: list[TemplateOut]
