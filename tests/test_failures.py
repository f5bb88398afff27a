"""No personal data in failure details or worker logs (issue 9, item 10): SQL and SMTP error
texts quote emails, company names and the values written; what leaves an activity, what a
lifecycle shows in `failure` and what the worker logs carry ids, codes and constraint names
only."""

from __future__ import annotations

import smtplib

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from temporalio.exceptions import ApplicationError

from models.common.db import Database
from models.common.failures import scrub, scrubbed
from models.common.mail import Mailer, MailFailed

EMAIL, COMPANY = "ann.lee@acme-widgets.test", "Acme Widgets Corp"


async def _sql_errors(db: Database) -> list[Exception]:
    """Real errors of PostgreSQL through SQLAlchemy, each quoting the email or the company
    (the test's database is its own)."""
    insert = sa.text("INSERT INTO person VALUES (:email, :company)")
    async with db.engine.begin() as c:
        await c.execute(
            sa.text(
                "CREATE TABLE person (email text UNIQUE, company text NOT NULL "
                "CHECK (length(company) < 5))"
            )
        )
        await c.execute(insert, {"email": EMAIL, "company": "Ok"})
    errors: list[Exception] = []
    for stmt, params in (
        (insert, {"email": EMAIL, "company": "Ok"}),  # unique: Key (email)=(...)
        (insert, {"email": "x@y.test", "company": COMPANY}),  # check: Failing row contains
        (sa.text("SELECT CAST(:v AS integer)"), {"v": f"{COMPANY} {EMAIL}"}),
    ):
        with pytest.raises(sa.exc.DBAPIError) as err:
            async with db.engine.begin() as c:
                await c.execute(stmt, params)
        errors.append(err.value)
    return errors


async def test_scrub_takes_emails_companies_and_sql_values_out(db):
    """Each SQL error of PostgreSQL, scrubbed: no email, no company name, no statement, no
    parameters; the constraint name and the kind of error stay."""
    errors = await _sql_errors(db)
    raw = [str(e) for e in errors]
    assert all(EMAIL in r or COMPANY in r for r in raw)
    clean = [scrub(r) for r in raw]
    for text in clean:
        assert EMAIL not in text and COMPANY not in text and "acme" not in text.lower()
        assert "[SQL:" not in text and "[parameters:" not in text
    assert "person_email_key" in clean[0] and "Key (email)=(…)" in clean[0]
    assert "person_company_check" in clean[1] and "Failing row contains (…)" in clean[1]
    assert "invalid input syntax for type integer" in clean[2]


def test_scrubbed_keeps_type_retry_and_drops_the_cause():
    """An ApplicationError keeps its type, retryability and details' shape; any other
    error becomes one typed by its class name (retry policies still match it)."""
    err = ApplicationError(
        f"no org for {EMAIL}", {"who": EMAIL, "n": 3}, type="NotFound", non_retryable=True
    )
    out = scrubbed(err)
    assert (out.type, out.non_retryable, out.message) == ("NotFound", True, "no org for <email>")
    assert out.details == ({"who": "<email>", "n": 3},)
    other = scrubbed(OperationalError("SELECT 1", {"email": EMAIL}, Exception("server closed")))
    assert other.type == "OperationalError" and not other.non_retryable
    assert EMAIL not in other.message and "server closed" in other.message
    assert scrub("mail bob@x.test and Bob.O'Neil+tag@sub.example.co.uk") == (
        "mail <email> and <email>"
    )


def test_smtp_failures_name_codes_not_addresses(monkeypatch):
    """An SMTP server refusing a recipient quotes the address; the Mailer's error names the
    code and the message's place in the batch only."""

    class RefusingSMTP(smtplib.SMTP):
        def __init__(self, *args, **kwargs) -> None:
            self.sent = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def send_message(self, msg, *args, **kwargs):
            self.sent += 1
            if self.sent == 2:
                raise smtplib.SMTPRecipientsRefused(
                    {msg["To"]: (550, f"5.1.1 <{msg['To']}>: unknown user".encode())}
                )
            return {}

    monkeypatch.setattr(smtplib, "SMTP", RefusingSMTP)
    mailer = Mailer("smtp://localhost:2525", "lifecycles@test")
    msgs = [mailer._message(m) for m in _outgoing(3)]
    with pytest.raises(MailFailed) as err:
        mailer._send_sync(msgs)
    assert str(err.value) == "SMTP refused 1 recipient(s) (codes [550]) at message 2 of 3"
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_silent_or_absent_smtp_relay_fails_the_attempt_without_addresses():
    """A relay that accepts the connection and never answers fails the attempt after the
    Mailer's timeout (not the step's start-to-close, not never); one that refuses the
    connection fails it at once. Both as MailFailed, which the step's retries take."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts (the kernel's backlog) and never says 220
        mailer = Mailer(f"smtp://127.0.0.1:{silent.getsockname()[1]}", "x@test", timeout=0.2)
        with pytest.raises(MailFailed) as err:
            mailer._send_sync([mailer._message(m) for m in _outgoing(2)])
        assert str(err.value) == "SMTP SMTPServerDisconnected at connecting"  # timed out
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, never listening: the connection is refused
        mailer = Mailer(f"smtp://127.0.0.1:{closed}", "x@test")
        with pytest.raises(MailFailed) as err:
            mailer._send_sync([mailer._message(m) for m in _outgoing(1)])
    assert str(err.value) == "SMTP ConnectionRefusedError at connecting"
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_the_smtp_timeout_is_a_setting():
    from workers.settings import Settings

    mailer = Mailer.from_settings(Settings(smtp_timeout_seconds=2.5))
    assert mailer.timeout == 2.5


def _outgoing(n: int):
    from models.common.mail import Outgoing

    return [
        Outgoing(f"user{i}@{COMPANY.split()[0].lower()}.test", "s", "b", f"k{i}") for i in range(n)
    ]
