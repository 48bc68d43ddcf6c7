"""Sending e-mail: through SMTP when TRACEQR_SMTP_URL is set, else into the log.

``smtp://user:password@host:587/?from=noreply@example.vn&starttls=1`` (``smtps://`` for
TLS from the start). Without it, messages (with their links) are written to the log at
WARNING level, which is enough for a single-machine install and for tests.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("traceqr.mail")


@dataclass(frozen=True)
class Mailer:
    smtp_url: str | None = None

    def send(self, to: str, subject: str, body: str) -> None:
        if not self.smtp_url:
            log.warning("E-mail to %s: %s\n%s", to, subject, body)
            return
        parts = urlsplit(self.smtp_url)
        query = parse_qs(parts.query)
        sender = query.get("from", [f"traceqr@{parts.hostname}"])[0]
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, to, subject
        message.set_content(body)
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
        context = ssl.create_default_context()
        smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        kwargs = {"context": context} if parts.scheme == "smtps" else {}
        with smtp_class(parts.hostname or "localhost", port, timeout=20, **kwargs) as smtp:
            if parts.scheme == "smtp" and query.get("starttls", ["1"])[0] != "0":
                smtp.starttls(context=context)
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)
