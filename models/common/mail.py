"""Email transport. Without ``LIFECYCLES_SMTP_URL`` a notice stays in the outbox table only."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlparse


class Mailer:
    def __init__(self, smtp_url: str | None, mail_from: str) -> None:
        self.smtp_url = smtp_url
        self.mail_from = mail_from

    @classmethod
    def from_settings(cls, settings: object) -> Mailer:
        # settings: workers.settings.Settings, which models/ may not import (import layers)
        return cls(settings.smtp_url, settings.mail_from)  # type: ignore[attr-defined]

    @property
    def transport(self) -> str:
        return "smtp" if self.smtp_url else "outbox"

    async def send(self, to: str, subject: str, body: str, message_id: str) -> str:
        """Send one email; ``message_id`` is the outbox key, so receivers can de-duplicate."""
        if not self.smtp_url:
            return "outbox"
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.mail_from, to, subject
        msg["Message-ID"] = f"<{message_id.replace(':', '.').replace('@', '_')}@lifecycles>"
        msg.set_content(body)
        await asyncio.to_thread(self._send_sync, msg)
        return "smtp"

    def _send_sync(self, msg: EmailMessage) -> None:
        u = urlparse(self.smtp_url or "")
        cls = smtplib.SMTP_SSL if u.scheme == "smtps" else smtplib.SMTP
        with cls(u.hostname or "localhost", u.port or (465 if u.scheme == "smtps" else 25)) as smtp:
            if u.scheme == "smtp+starttls":
                smtp.starttls()
            if u.username:
                smtp.login(unquote(u.username), unquote(u.password or ""))
            smtp.send_message(msg)
