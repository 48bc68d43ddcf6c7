"""One error tree. Services raise these; the web layer and the CLI turn them into answers.

Each error carries a stable ``code`` (API clients key on it), an HTTP status and a message
a person can act on. Field errors name the field. A message is an English template marked
with :func:`N_` plus its parameters, so the pages can show it translated while the API and
the CLI show the English text.
"""

from __future__ import annotations

from typing import Any


def N_(template: str) -> str:
    """Mark a message template for extraction; translation happens at the edge."""
    return template


class TraceQRError(Exception):
    code = "error"
    http_status = 400

    def __init__(
        self,
        template: str,
        *,
        field: str | None = None,
        code: str | None = None,
        **params: Any,
    ) -> None:
        self.template = template
        self.params = params
        self.message = template % params if params else template
        super().__init__(self.message)
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, object]:
        message = self.message
        if self.field and not message.startswith(self.field):
            message = f"{self.field}: {message}"
        body: dict[str, object] = {"code": self.code, "message": message}
        if self.field:
            body["field"] = self.field
        return body


class ConfigError(TraceQRError):
    """The service is misconfigured; raised at start-up."""

    code = "config_error"
    http_status = 500


class ValidationError(TraceQRError):
    code = "invalid_input"
    http_status = 400


class NotFound(TraceQRError):
    """Also the answer for another business's objects: existence is not revealed."""

    code = "not_found"
    http_status = 404


class Conflict(TraceQRError):
    code = "conflict"
    http_status = 409


class Unauthorized(TraceQRError):
    code = "unauthorized"
    http_status = 401


class Forbidden(TraceQRError):
    code = "forbidden"
    http_status = 403


class KeyStoreError(TraceQRError):
    """A private key is missing or cannot be decrypted with the configured master keys."""

    code = "key_store_error"
    http_status = 500
