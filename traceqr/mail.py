"""Sending e-mail: through SMTP when TRACEQR_SMTP_URL is set, else into the log.

``smtp://user:password@host:587/?from=noreply@example.vn&starttls=1`` (``smtps://`` for
TLS from the start). Without it, messages (with their links) are written to the log at
WARNING level, which is enough for a single-machine install and for tests.

Mail a request triggers (a password reset, a sign-up) goes out with
:meth:`Mailer.send_later`, on a thread of its own: the answer takes as long whether or not
a message is sent (nobody learns from the timing which addresses have accounts), a slow
SMTP server holds no request, and one that is down is logged, never a 500.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("traceqr.mail")

# Messages waiting for the mail thread; beyond this many, new ones are dropped and logged
# (a flood of reset requests must not fill the memory with queued mail).
MAX_WAITING = 200
_outbox: ThreadPoolExecutor | None = None
_outbox_lock = threading.Lock()
_waiting = threading.BoundedSemaphore(MAX_WAITING)


def _the_outbox() -> ThreadPoolExecutor:
    """One thread sends, in order; made on first use, so a forked worker makes its own."""
    global _outbox
    with _outbox_lock:
        if _outbox is None:
            _outbox = ThreadPoolExecutor(max_workers=1, thread_name_prefix="traceqr-mail")
        return _outbox


def _forget_outbox() -> None:
    global _outbox, _outbox_lock, _waiting
    _outbox, _outbox_lock = None, threading.Lock()
    _waiting = threading.BoundedSemaphore(MAX_WAITING)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_outbox)


def wait_for_mail(timeout: float = 30) -> None:
    """Wait until every message handed to :meth:`Mailer.send_later` so far is sent (or
    failed): for the CLI before it exits, and for tests."""
    _the_outbox().submit(lambda: None).result(timeout=timeout)


@dataclass(frozen=True)
class Mailer:
    smtp_url: str | None = None

    def send_later(self, to: str, subject: str, body: str) -> Future[None] | None:
        """Send on the mail thread; a failure is logged there, never raised here."""
        if not _waiting.acquire(blocking=False):
            log.error("E-mail to %s not sent: %s messages are already waiting", to, MAX_WAITING)
            return None
        try:
            return _the_outbox().submit(self._send_logged, to, subject, body)
        except RuntimeError:  # the interpreter is shutting down
            _waiting.release()
            log.error("E-mail to %s not sent: shutting down", to)
            return None

    def _send_logged(self, to: str, subject: str, body: str) -> None:
        try:
            self.send(to, subject, body)
        except Exception:
            log.exception("E-mail to %s could not be sent: %s", to, subject)
        finally:
            _waiting.release()

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
