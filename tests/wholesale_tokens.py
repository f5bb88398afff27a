"""The partner world that the wholesale and billing tests share: a partner with two
sub-partners, another partner, a template each, and a bearer token (every scope) for each of
them. Each fixture's world inherits ``PartnerWorld`` and adds its own tokens and templates."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.orgs import create_partner
from models.wholesale.store import SCOPES, TemplateSpec, create_sub_partner, create_template
from models.wholesale.store import create_token as _create_token


def template_spec(**kw: Any) -> TemplateSpec:
    """The partner's standard template (US, calling through CCP Voice), with overrides."""
    base: dict[str, Any] = dict(
        name="Standard",
        country="US",
        sp_admin_email="ops@sp.test",
        subscription_id="Sub-1",
        brand_name="SP Telco Webex",
        pstn_provider="CCP Voice",
    )
    base.update(kw)
    return TemplateSpec(**base)


class PartnerWorld:
    """Orgs, templates and tokens: ``tokens`` by caller ("partner", "sub_a", "sub_b",
    "other", and whatever a subclass adds), ``auth(who)`` their Authorization header."""

    partner: str
    other_partner: str
    sub_a: str
    sub_b: str
    template: str
    other_template: str

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    async def seed_partners(self, s: AsyncSession) -> None:
        self.partner = await create_partner(s, "SP Telco", 1, [("admin@sp.test", "full")])
        self.other_partner = await create_partner(
            s, "Other Telco", 1, [("admin@other.test", "full")]
        )
        self.sub_a = await create_sub_partner(
            s, self.partner, "Reseller A", "SubA", [("admin@a.test", "full")]
        )
        self.sub_b = await create_sub_partner(
            s, self.partner, "Reseller B", "SubB", [("admin@b.test", "full")]
        )
        self.template = await create_template(s, self.partner, template_spec())
        self.other_template = await create_template(s, self.other_partner, template_spec())
        for who, partner, email, sub in (
            ("partner", self.partner, "admin@sp.test", None),
            ("sub_a", self.partner, "admin@a.test", self.sub_a),
            ("sub_b", self.partner, "admin@b.test", self.sub_b),
            ("other", self.other_partner, "admin@other.test", None),
        ):
            await self.create_token(s, who, list(SCOPES), partner, email, sub)

    async def create_token(
        self,
        s: AsyncSession,
        who: str,
        scopes: list[str],
        partner_org_id: str | None = None,
        admin_email: str = "admin@sp.test",
        sub_partner_org_id: str | None = None,
    ) -> str:
        """A token of ``scopes`` kept as ``tokens[who]`` (the partner's admin by default)."""
        _, self.tokens[who] = await _create_token(
            s,
            partner_org_id=partner_org_id or self.partner,
            admin_email=admin_email,
            scopes=scopes,
            sub_partner_org_id=sub_partner_org_id,
        )
        return self.tokens[who]

    def auth(self, who: str = "partner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}
