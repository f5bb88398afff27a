"""Email transport. Without ``LIFECYCLES_SMTP_URL`` a notice stays in the outbox table only."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class Outgoing:
    """One email of a batch; ``message_id`` is its outbox key (receivers drop a duplicate)."""

    to: str
    subject: str
    body: str
    message_id: str


class Mailer:
    def __init__(self, smtp_url: str | None, mail_from: str, timeout: float = 5.0) -> None:
        """``timeout``: seconds any one exchange with the relay may take (connecting, each
        command). A relay that stops answering fails the attempt well inside the step's
        start-to-close, instead of holding a thread for ever."""
        self.smtp_url = smtp_url
        self.mail_from = mail_from
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: object) -> Mailer:
        # settings: workers.settings.Settings, which models/ may not import (import layers)
        s: Any = settings
        return cls(s.smtp_url, s.mail_from, s.smtp_timeout_seconds)

    @property
    def transport(self) -> str:
        return "smtp" if self.smtp_url else "outbox"

    async def send(self, to: str, subject: str, body: str, message_id: str) -> str:
        """Send one email; ``message_id`` is the outbox key, so receivers can de-duplicate."""
        return await self.send_many([Outgoing(to, subject, body, message_id)])

    async def send_many(self, messages: Sequence[Outgoing]) -> str:
        """Send several emails over one SMTP connection (one login for the lot). Raises
        ``MailFailed`` (codes, no addresses) if one fails: the caller then counts none of
        the batch as sent and tries it again (the Message-ID lets receivers drop what had
        already gone)."""
        if not self.smtp_url or not messages:
            return self.transport
        await asyncio.to_thread(self._send_sync, [self._message(m) for m in messages])
        return "smtp"

    def _message(self, m: Outgoing) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.mail_from, m.to, m.subject
        msg["Message-ID"] = f"<{m.message_id.replace(':', '.').replace('@', '_')}@lifecycles>"
        msg.set_content(m.body)
        return msg

    def _send_sync(self, msgs: Sequence[EmailMessage]) -> None:
        u = urlparse(self.smtp_url or "")
        cls = smtplib.SMTP_SSL if u.scheme == "smtps" else smtplib.SMTP
        sent, connected = 0, False
        try:
            with cls(
                u.hostname or "localhost",
                u.port or (465 if u.scheme == "smtps" else 25),
                timeout=self.timeout,
            ) as smtp:
                if u.scheme == "smtp+starttls":
                    smtp.starttls()
                if u.username:
                    smtp.login(unquote(u.username), unquote(u.password or ""))
                connected = True
                for msg in msgs:
                    smtp.send_message(msg)
                    sent += 1
        except smtplib.SMTPException as err:
            raise MailFailed(describe_smtp_error(err, _where(connected, sent, len(msgs)))) from None
        except OSError as err:  # refused, unreachable, or silent past the timeout
            where = _where(connected, sent, len(msgs))
            raise MailFailed(f"SMTP {type(err).__name__} at {where}") from None


def _where(connected: bool, sent: int, total: int) -> str:
    """Where in a batch's exchange it failed: connecting, message 3 of 10, or closing."""
    if not connected:
        return "connecting"
    return f"message {sent + 1} of {total}" if sent < total else "closing"


class MailFailed(RuntimeError):
    """An SMTP failure, told by its codes and the message's place in the batch: the
    server's text quotes addresses, which stay out of logs and workflow histories."""


def describe_smtp_error(err: smtplib.SMTPException, where: str) -> str:
    """What failed and ``where`` (connecting, message 3 of 10, closing), without the
    addresses the server's reply quotes."""
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in err.recipients.values()})
        return f"SMTP refused {len(err.recipients)} recipient(s) (codes {codes}) at {where}"
    code = getattr(err, "smtp_code", None)
    return f"SMTP {type(err).__name__}" + (f" {code}" if code else "") + f" at {where}"
