"""SO-10: the downloadable order summary, a PDF made with fpdf2 (pinned in pyproject.toml)."""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF

from models.orders.tables import OrderRecord, OrderService


def _latin1(text: str) -> str:
    """The core fonts hold Latin-1 only; anything else is shown as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


def order_summary_pdf(
    order: OrderRecord,
    services: list[OrderService],
    org_names: dict[str, str],
    at: datetime,
) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(f"Order summary {order.id}")
    pdf.set_creation_date(at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Order summary: {order.id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    rows = [
        ("Offer", order.offer),
        ("Requested start date", f"{order.requested_start_date:%Y-%m-%d}"),
        ("Subscription", order.subscription_status),
        ("Provisioned", f"{at:%Y-%m-%d %H:%M} UTC"),
        ("For", "a customer" if order.purpose == "customer" else "my company"),
    ]
    if order.partner_org_id:
        rows.append(("Partner org", org_names.get(order.partner_org_id, order.partner_org_id)))
    if order.customer_org_id:
        rows.append(("Customer org", org_names.get(order.customer_org_id, order.customer_org_id)))
    if order.trial_id:
        rows.append(("Converted trial", order.trial_id))
    for label, value in rows:
        pdf.cell(55, 8, _latin1(label))
        pdf.cell(0, 8, _latin1(str(value)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Services", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    with pdf.table(col_widths=(30, 20, 30, 90)) as table:
        header = table.row()
        for h in ("Service", "Quantity", "Status", "Settings"):
            header.cell(h)
        for svc in sorted(services, key=lambda x: x.service):
            row = table.row()
            row.cell(svc.service)
            row.cell(str(svc.quantity))
            row.cell("billed" if svc.billing_started_at else "set up later")
            row.cell(_latin1(_settings_text(svc.settings)))
    return bytes(pdf.output())


def _settings_text(settings: dict) -> str:
    parts = []
    for site in settings.get("sites", []):
        extra = ", early adopter" if site.get("early_adopter") else ""
        parts.append(f"{site['name']}.webex.com ({site['timezone']}, {site['licenses']}{extra})")
    if settings.get("location_name"):
        parts.append(f"HQ {settings['location_name']} ({settings.get('country')})")
    return "; ".join(parts) or "-"
