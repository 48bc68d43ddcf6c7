"""Dates as Vietnamese labels write them, and the time zone shoppers live in."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta, timezone

# Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact.
VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ISO_MONTH = re.compile(r"(\d{4})-(\d{2})")


def parse_label_date(text: str, *, month_only_allowed: bool = False) -> date:
    """An ISO 8601 date ``YYYY-MM-DD``; with ``month_only_allowed`` also ``YYYY-MM``.

    A month-only date means the last day of that month: Decree 43/2017 reads an expiry
    printed as month and year that way.
    """
    value = text.strip()
    if match := _ISO_DATE.fullmatch(value):
        year, month, day = (int(g) for g in match.groups())
        return date(year, month, day)  # ValueError for 2026-02-30
    if month_only_allowed and (match := _ISO_MONTH.fullmatch(value)):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"month {month} does not exist")
        return date(year, month, calendar.monthrange(year, month)[1])
    expected = "YYYY-MM-DD or YYYY-MM" if month_only_allowed else "YYYY-MM-DD"
    raise ValueError(f"expected a date as {expected}, got {value[:40]!r}")


def format_vn_date(value: date | datetime | None) -> str:
    """dd/mm/yyyy, in Vietnam's time for points in time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(VIETNAM_TZ).date()
    return value.strftime("%d/%m/%Y")


def format_vn_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(VIETNAM_TZ).strftime("%H:%M %d/%m/%Y")


def iso_vietnam(value: datetime | None) -> str | None:
    """ISO 8601 with the +07:00 offset, as the API answers."""
    return value.astimezone(VIETNAM_TZ).isoformat() if value is not None else None


_DMY = re.compile(r"(\d{1,2})[./\- ](\d{1,2})[./\- ](\d{4})")
_MY = re.compile(r"(\d{1,2})[./\- ](\d{4})")


def parse_typed_date(text: str, *, month_only_allowed: bool = False) -> date:
    """A date as people in Vietnam type it: dd/mm/yyyy (also with ``.``, ``-`` or a space,
    as Decree 37/2026 allows), mm/yyyy for a month-only expiry, or ISO 8601."""
    value = text.strip()
    if match := _DMY.fullmatch(value):
        day, month, year = (int(g) for g in match.groups())
        return date(year, month, day)
    if month_only_allowed and (match := _MY.fullmatch(value)):
        month, year = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"month {month} does not exist")
        return date(year, month, calendar.monthrange(year, month)[1])
    try:
        return parse_label_date(value, month_only_allowed=month_only_allowed)
    except ValueError:
        expected = "dd/mm/yyyy or mm/yyyy" if month_only_allowed else "dd/mm/yyyy"
        raise ValueError(f"write the date as {expected}") from None
