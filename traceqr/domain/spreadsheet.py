"""Cells of a CSV export that a spreadsheet program would not run as formulas.

Shop names and scanned texts come from anonymous shoppers, cluster and product names from
businesses, and officials open the exports in a spreadsheet: a cell that starts like a
formula gets a leading apostrophe, as OWASP advises ("CSV injection"). Every CSV export
goes through :func:`spreadsheet_safe`; a file that TraceQR reads back takes the apostrophe
off again with :func:`spreadsheet_unsafe`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

# What makes a spreadsheet program read a cell as a formula (full-width forms included).
# A link (https://…) starts with none of them: a stamp's URL, the text of its QR code,
# is left exactly as it is.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

K = TypeVar("K")


def spreadsheet_safe(value: object) -> object:
    """``value`` with a leading apostrophe if it is text a spreadsheet would run as a
    formula; numbers and everything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[object]) -> list[object]:
    return [spreadsheet_safe(cell) for cell in row]


def safe_dict_row(row: Mapping[K, object]) -> dict[K, object]:
    return {key: spreadsheet_safe(value) for key, value in row.items()}


def spreadsheet_unsafe(value: str) -> str:
    """A cell read back from one of our exports: the apostrophe that
    :func:`spreadsheet_safe` added is taken off."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
