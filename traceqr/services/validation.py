"""Checks every service applies to what people and programs send in.

Each raises :class:`~traceqr.errors.ValidationError` naming the field, so the API, the
portal and the CLI can all show the message next to the right input.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any

from traceqr.domain.dates import parse_label_date
from traceqr.domain.gs1 import GS1Error, normalize_gtin, validate_lot
from traceqr.errors import N_, ValidationError

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_DISALLOWED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
# Line and paragraph separators outside the control category: a one-line name holding one
# breaks CSV rows, JavaScript strings and log lines just as a newline would.
_LINE_BREAKS = {"\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\n", "\r"}


def clean_text(
    value: Any,
    field: str,
    *,
    max_length: int,
    required: bool = False,
    multiline: bool = False,
) -> str | None:
    """Trimmed NFC text, or None when empty and optional.

    Control and format characters are refused (PostgreSQL cannot store NUL, and invisible
    characters make look-alike names); line breaks only where ``multiline``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(N_("this is required"), field=field)
        return None
    if not isinstance(value, str):
        raise ValidationError(N_("must be text"), field=field)
    text = unicodedata.normalize("NFC", value.strip())
    allowed = {"\n", "\t"} if multiline else set()
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        for separator in ("\u2028", "\u2029", "\x85"):  # a line break by another name
            text = text.replace(separator, "\n")
    for ch in text:
        if ch not in allowed and (
            ch in _LINE_BREAKS or unicodedata.category(ch) in _DISALLOWED_CATEGORIES
        ):
            raise ValidationError(
                N_("contains an invisible or control character (%(char)s)"),
                field=field,
                char=f"U+{ord(ch):04X}",
            )
    if len(text) > max_length:
        raise ValidationError(
            N_("too long: at most %(limit)s characters, this has %(length)s"),
            field=field,
            limit=max_length,
            length=len(text),
        )
    return text


def required_text(value: Any, field: str, *, max_length: int, multiline: bool = False) -> str:
    text = clean_text(value, field, max_length=max_length, required=True, multiline=multiline)
    assert text is not None
    return text


def clean_email(value: Any, field: str = "email") -> str:
    text = required_text(value, field, max_length=254).lower()
    if not _EMAIL.fullmatch(text):
        raise ValidationError(N_("this is not an e-mail address"), field=field)
    return text


def clean_gtin(value: Any, field: str = "gtin") -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(
            N_("must be a string of digits (a number would lose leading zeros)"), field=field
        )
    try:
        return normalize_gtin(value)
    except GS1Error as exc:
        raise ValidationError(exc.template, field=field, **exc.params) from exc


def clean_lot(value: Any, field: str = "lot") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(N_("this is required"), field=field)
    try:
        return validate_lot(value.strip())
    except GS1Error as exc:
        raise ValidationError(exc.template, field=field, **exc.params) from exc


def clean_date(value: Any, field: str, *, month_only_allowed: bool = False) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValidationError(N_("must be a date written YYYY-MM-DD"), field=field)
    try:
        parsed = parse_label_date(value, month_only_allowed=month_only_allowed)
    except ValueError as exc:
        if month_only_allowed:
            raise ValidationError(
                N_("write the date as YYYY-MM-DD, or YYYY-MM for the end of a month"),
                field=field,
            ) from exc
        raise ValidationError(N_("write the date as YYYY-MM-DD"), field=field) from exc
    if not 1900 <= parsed.year <= 2200:
        raise ValidationError(
            N_("the year %(year)s is not plausible"), field=field, year=parsed.year
        )
    return parsed


def clean_positive_int(
    value: Any, field: str, *, minimum: int = 1, maximum: int | None = None
) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(N_("must be a whole number"), field=field)
    if value < minimum or (maximum is not None and value > maximum):
        if maximum is None:
            raise ValidationError(N_("must be at least %(minimum)s"), field=field, minimum=minimum)
        raise ValidationError(
            N_("must be between %(minimum)s and %(maximum)s"),
            field=field,
            minimum=minimum,
            maximum=maximum,
        )
    return value


def clean_since(at: datetime, now: datetime, future_template: str) -> datetime:
    """A time from which something takes effect (a key's compromise, a verification's
    withdrawal): with its offset, and not in the future (``future_template`` says so)."""
    if at.tzinfo is None:
        raise ValidationError(
            N_("give the time with its offset, e.g. 2026-11-20T08:00+07:00"), field="at"
        )
    if at > now:
        raise ValidationError(future_template, field="at")
    return at
