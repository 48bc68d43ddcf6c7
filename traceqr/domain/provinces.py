"""Vietnam's 34 province-level units since 1 July 2025, shipped as data."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Province:
    code: str  # slug of the ASCII name: "ha-noi"
    name_vi: str  # "Thành phố Hà Nội"
    name_ascii: str  # "Ha Noi"
    kind: str  # "city" or "province"
    merged_from: tuple[str, ...]
    lat: float  # approximate administrative centre
    lon: float

    @property
    def short_name_vi(self) -> str:
        """The name without "Thành phố"/"Tỉnh", as addresses usually write it."""
        return re.sub(r"^(Thành phố|Tỉnh)\s+", "", self.name_vi)


def _slug(name_ascii: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name_ascii.lower()).strip("-")


@cache
def all_provinces() -> tuple[Province, ...]:
    text = resources.files("traceqr.data").joinpath("vn-provinces-2025.csv").read_text("utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(
        Province(
            code=_slug(row["name_ascii"]),
            name_vi=row["name_vi"],
            name_ascii=row["name_ascii"],
            kind=row["kind"],
            merged_from=tuple(p.strip() for p in row["merged_from"].split(";") if p.strip()),
            lat=float(row["lat"]),
            lon=float(row["lon"]),
        )
        for row in rows
    )


@cache
def provinces_by_code() -> dict[str, Province]:
    return {p.code: p for p in all_provinces()}


def province(code: str | None) -> Province | None:
    return provinces_by_code().get(code or "")
