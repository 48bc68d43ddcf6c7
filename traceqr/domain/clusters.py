"""The register of industrial parks and clusters: what an entry is, and reading it from CSV.

A park is a *khu công nghiệp*, a cluster a *cụm công nghiệp* (Decree 32/2024/NĐ-CP). The
CSV is UTF-8 with a header row; columns (English or Vietnamese names):

    name,kind,province,commune,area_ha,status

``kind`` is ``park``/``cluster`` or ``khu công nghiệp``/``cụm công nghiệp`` (``KCN``,
``CCN``); ``province`` a slug (``ha-noi``) or a name (``Thành phố Hà Nội``, ``Hà Nội``);
``area_ha`` a number of hectares (``12.5`` or ``12,5``); ``status`` ``founded``,
``building``, ``operating`` or ``đã thành lập``, ``đang xây dựng``, ``đang hoạt động``.
Pure: no database, no Flask.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from traceqr.domain.provinces import all_provinces, province
from traceqr.domain.spreadsheet import spreadsheet_unsafe
from traceqr.errors import N_

KINDS = ("park", "cluster")
STATUSES = ("founded", "building", "operating")
MAX_ROWS = 5000
MAX_AREA_HA = 100_000.0
COLUMNS = ("name", "kind", "province", "commune", "area_ha", "status")

_COLUMN_ALIASES = {
    "name": "name",
    "ten": "name",
    "kind": "kind",
    "loai": "kind",
    "province": "province",
    "province_code": "province",
    "tinh": "province",
    "tinh/thanh pho": "province",
    "commune": "commune",
    "xa": "commune",
    "xa/phuong": "commune",
    "area_ha": "area_ha",
    "area": "area_ha",
    "dien tich": "area_ha",
    "dien tich (ha)": "area_ha",
    "status": "status",
    "trang thai": "status",
}
_KIND_ALIASES = {
    "park": "park",
    "industrial park": "park",
    "kcn": "park",
    "khu cong nghiep": "park",
    "cluster": "cluster",
    "industrial cluster": "cluster",
    "ccn": "cluster",
    "cum cong nghiep": "cluster",
}
_STATUS_ALIASES = {
    "founded": "founded",
    "da thanh lap": "founded",
    "thanh lap": "founded",
    "building": "building",
    "under construction": "building",
    "dang xay dung": "building",
    "xay dung": "building",
    "operating": "operating",
    "dang hoat dong": "operating",
    "hoat dong": "operating",
}


def fold(text: str) -> str:
    """Lower case without Vietnamese diacritics, single spaces: for matching names."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class ClusterEntry:
    name: str
    kind: str
    province_code: str
    commune: str | None
    area_ha: float | None
    status: str


@dataclass(frozen=True)
class EntryProblem:
    """One thing wrong with one field; ``template`` is an English message marked by N_."""

    field: str
    template: str
    params: dict[str, Any]

    @property
    def message(self) -> str:
        return self.template % self.params if self.params else self.template


@dataclass(frozen=True)
class LineProblem:
    line: int
    problem: EntryProblem


def province_from_text(text: str) -> str | None:
    """A province slug from a slug or a Vietnamese or ASCII name, with or without
    "Thành phố"/"Tỉnh"."""
    if province(text.strip().lower()) is not None:
        return text.strip().lower()
    wanted = re.sub(r"^(thanh pho|tinh|tp\.?)\s+", "", fold(text))
    for candidate in all_provinces():
        if wanted in (fold(candidate.short_name_vi), fold(candidate.name_ascii)):
            return candidate.code
    return None


def parse_area(text: str) -> float:
    """Hectares: ``12.5``, ``12,5``, ``2.657,7`` or ``2,657.7``."""
    raw = text.strip().replace(" ", "").replace("\u00a0", "")
    if "," in raw and "." in raw:
        # the later mark is the decimal one
        raw = (
            raw.replace(".", "").replace(",", ".")
            if raw.rfind(",") > raw.rfind(".")
            else raw.replace(",", "")
        )
    elif raw.count(",") == 1:
        raw = raw.replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d+)?", raw):
        raise ValueError(text)
    return float(raw)


def clean_entry(values: dict[str, Any]) -> tuple[ClusterEntry | None, list[EntryProblem]]:
    """An entry from loose values (a form or a CSV row), or every problem with them."""
    problems: list[EntryProblem] = []

    def text(field: str, limit: int, required: bool) -> str | None:
        raw = values.get(field)
        value = unicodedata.normalize("NFC", str(raw).strip()) if raw is not None else ""
        value = " ".join(value.split())
        if not value:
            if required:
                problems.append(EntryProblem(field, N_("this is required"), {}))
            return None
        if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in value):
            problems.append(EntryProblem(field, N_("contains an invisible character"), {}))
            return None
        if len(value) > limit:
            problems.append(
                EntryProblem(field, N_("too long: at most %(limit)s characters"), {"limit": limit})
            )
            return None
        return value

    name = text("name", 200, True)
    commune = text("commune", 120, False)
    kind_text = text("kind", 40, True)
    kind = None
    if kind_text is not None:
        kind = _KIND_ALIASES.get(fold(kind_text))
        if kind is None:
            problems.append(
                EntryProblem(
                    "kind",
                    N_("the kind must be khu công nghiệp (park) or cụm công nghiệp (cluster)"),
                    {},
                )
            )
    province_text = text("province", 80, True)
    province_code = None
    if province_text is not None:
        province_code = province_from_text(province_text)
        if province_code is None:
            problems.append(
                EntryProblem(
                    "province",
                    N_("%(value)s is not one of the 34 provinces"),
                    {"value": province_text[:60]},
                )
            )
    area_text = text("area_ha", 30, False)
    area = None
    if area_text is not None:
        try:
            area = parse_area(area_text)
        except ValueError:
            problems.append(
                EntryProblem("area_ha", N_("the area is a number of hectares, e.g. 12,5"), {})
            )
        else:
            if area <= 0 or area > MAX_AREA_HA:
                problems.append(
                    EntryProblem(
                        "area_ha",
                        N_("the area must be more than 0 and at most %(max)s ha"),
                        {"max": int(MAX_AREA_HA)},
                    )
                )
                area = None
    status_text = text("status", 40, True)
    status = None
    if status_text is not None:
        status = _STATUS_ALIASES.get(fold(status_text))
        if status is None:
            problems.append(
                EntryProblem(
                    "status",
                    N_("the status must be founded, building or operating"),
                    {},
                )
            )
    if problems or name is None or kind is None or province_code is None or status is None:
        return None, problems
    return ClusterEntry(name, kind, province_code, commune, area, status), []


def parse_register_csv(text: str) -> tuple[list[tuple[int, ClusterEntry]], list[LineProblem]]:
    """Every good entry of a register CSV and every problem, each with its line number
    (the header is line 1). Two lines naming the same cluster in the same province are a
    problem too. Callers store nothing when there is any problem."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [LineProblem(1, EntryProblem("file", N_("the file is empty"), {}))]
    except csv.Error:
        return [], [LineProblem(1, EntryProblem("file", N_("this is not a CSV file"), {}))]
    columns = [_COLUMN_ALIASES.get(fold(name)) for name in header]
    unknown = [name for name, column in zip(header, columns, strict=True) if column is None]
    missing = [c for c in ("name", "kind", "province", "status") if c not in columns]
    problems: list[LineProblem] = []
    if unknown:
        problems.append(
            LineProblem(
                1,
                EntryProblem(
                    "file",
                    N_("unknown columns: %(names)s"),
                    {"names": ", ".join(n[:40] for n in unknown)},
                ),
            )
        )
    if missing:
        problems.append(
            LineProblem(
                1,
                EntryProblem(
                    "file", N_("missing columns: %(names)s"), {"names": ", ".join(missing)}
                ),
            )
        )
    if problems:
        return [], problems
    entries: list[tuple[int, ClusterEntry]] = []
    seen: dict[tuple[str, str], int] = {}
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(entries) + len(problems) >= MAX_ROWS:
                problems.append(
                    LineProblem(
                        line,
                        EntryProblem("file", N_("at most %(n)s lines per file"), {"n": MAX_ROWS}),
                    )
                )
                break
            if len(row) != len(columns):
                problems.append(
                    LineProblem(
                        line,
                        EntryProblem(
                            "file",
                            N_("%(found)s columns where the header has %(expected)s"),
                            {"found": len(row), "expected": len(columns)},
                        ),
                    )
                )
                continue
            entry, found = clean_entry(
                {
                    c: spreadsheet_unsafe(v)  # our own export, read back
                    for c, v in zip(columns, row, strict=True)
                    if c is not None
                }
            )
            problems.extend(LineProblem(line, problem) for problem in found)
            if entry is None:
                continue
            key = (entry.province_code, fold(entry.name))
            if key in seen:
                problems.append(
                    LineProblem(
                        line,
                        EntryProblem(
                            "name",
                            N_("the same cluster is already on line %(other)s"),
                            {"other": seen[key]},
                        ),
                    )
                )
                continue
            seen[key] = line
            entries.append((line, entry))
    except csv.Error:
        problems.append(
            LineProblem(line + 1, EntryProblem("file", N_("this is not a CSV file"), {}))
        )
    if not entries and not problems:
        problems.append(LineProblem(2, EntryProblem("file", N_("the file has no clusters"), {})))
    return entries, problems


def register_csv_rows(entries: list[ClusterEntry]) -> list[list[str]]:
    """The register as CSV rows (header first), in the format the import reads."""
    rows = [list(COLUMNS)]
    for e in entries:
        area = "" if e.area_ha is None else f"{e.area_ha:g}"
        rows.append([e.name, e.kind, e.province_code, e.commune or "", area, e.status])
    return rows
