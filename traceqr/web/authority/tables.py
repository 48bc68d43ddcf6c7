"""Every table of the authority's pages, built once: the page shows it with its links, the
CSV export writes its raw values, the PDF report prints its text."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from werkzeug.wrappers import Response

from traceqr.domain.provinces import province
from traceqr.domain.spreadsheet import safe_row
from traceqr.models import Cluster
from traceqr.services.authority import (
    AreaDashboard,
    AreaRow,
    Evidence,
    HotSpots,
    Period,
    SpotRow,
)
from traceqr.web.downloads import file_bytes_response, safe_filename
from traceqr.web.i18n import gettext as _
from traceqr.web.i18n import number, vn_date, vn_datetime
from traceqr.web.wording import verdict_wording


@dataclass(frozen=True)
class Cell:
    value: Any  # what the CSV gets
    text: str  # what the page and the PDF show
    href: str | None = None
    numeric: bool = False


@dataclass
class DataTable:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    csv_url: str | None = None
    empty: str = ""
    collapsed: bool = False  # long tables (a chart's data) start folded on the page


def n(value: int, href: str | None = None) -> Cell:
    return Cell(value, number(value), href if value else None, numeric=True)


def pct(share: float) -> Cell:
    return Cell(round(share, 4), f"{number(round(share * 100, 1))} %", numeric=True)


def t(value: str | None, href: str | None = None) -> Cell:
    return Cell(value or "", value or "", href)


def province_label(code: str | None) -> str:
    found = province(code)
    return found.name_vi if found else (code or "")


def kind_label(kind: str) -> str:
    return {"park": _("Industrial park"), "cluster": _("Industrial cluster")}.get(kind, kind)


def status_label(status: str) -> str:
    return {
        "founded": _("Founded"),
        "building": _("Being built"),
        "operating": _("Operating"),
    }.get(status, status)


def area_ha(value: float | None) -> Cell:
    if value is None:
        return Cell("", "", numeric=True)
    return Cell(value, number(value), numeric=True)


# --- adoption ----------------------------------------------------------------------------


def timeline_table(d: AreaDashboard, csv_url: str) -> DataTable:
    table = DataTable(
        "timeline",
        _("Stamps issued and checks over time"),
        [
            _("From"),
            _("Stamps issued"),
            _("Genuine checks"),
            _("Revoked, recalled or inactive"),
            _("Suspicious, invalid or unregistered"),
        ],
        csv_url=csv_url,
        collapsed=True,
    )
    for p in d.timeline:
        table.rows.append(
            [
                Cell(p.start.isoformat(), vn_date(p.start)),
                n(p.issued),
                n(p.genuine),
                n(p.other),
                n(p.bad),
            ]
        )
    return table


def _adoption_cells(row: AreaRow) -> list[Cell]:
    return [
        n(row.businesses),
        n(row.adopters),
        pct(row.adoption),
        n(row.products),
        n(row.batches),
        n(row.stamps),
        n(row.scans),
        pct(row.share("suspicious")),
        pct(row.share("invalid")),
        pct(row.share("unregistered")),
        n(row.reports),
        n(len(row.cases)),
    ]


def _adoption_columns() -> list[str]:
    return [
        _("Businesses"),
        _("With stamps"),
        _("Adoption"),
        _("Products with stamps"),
        _("Batches with stamps"),
        _("Stamps issued"),
        _("Checks in the period"),
        _("Suspicious"),
        _("Invalid"),
        _("Unregistered"),
        _("Reports"),
        _("Cases"),
    ]


def communes_table(d: AreaDashboard, csv_url: str) -> DataTable:
    table = DataTable(
        "communes",
        _("By commune"),
        [_("Commune or ward"), *_adoption_columns()],
        csv_url=csv_url,
        empty=_("No business in this area yet."),
    )
    for row in d.communes:
        table.rows.append([t(row.label or _("(commune not given)")), *_adoption_cells(row)])
    return table


def clusters_table(d: AreaDashboard, csv_url: str, period: Period) -> DataTable:
    table = DataTable(
        "clusters",
        _("Clusters ranked by adoption"),
        [
            _("Rank"),
            _("Park or cluster"),
            _("Kind"),
            _("Commune or ward"),
            _("Area (ha)"),
            _("Status"),
            *_adoption_columns(),
        ],
        csv_url=csv_url,
        empty=_("The register has no park or cluster in this province."),
    )
    for rank, row in enumerate(d.clusters, start=1):
        href = url_for("authority.cluster", cluster_id=row.cluster_id, **period.query())
        table.rows.append(
            [
                n(rank),
                t(row.label, href),
                t(kind_label(row.extra.get("kind", ""))),
                t(row.extra.get("commune")),
                area_ha(row.extra.get("area_ha")),
                t(status_label(row.extra.get("status", ""))),
                *_adoption_cells(row),
            ]
        )
    return table


def businesses_table(d: AreaDashboard, csv_url: str) -> DataTable:
    table = DataTable(
        "businesses",
        _("Businesses"),
        [_("Business"), _("Commune or ward"), *_adoption_columns()[1:]],
        csv_url=csv_url,
        empty=_("No business has chosen this cluster yet."),
    )
    for row in d.businesses:
        table.rows.append([t(row.label), t(row.extra.get("commune")), *_adoption_cells(row)[1:]])
    return table


# --- hot spots -------------------------------------------------------------------------------


def _spot_cells(row: SpotRow, period: Period) -> list[Cell]:
    def link(status: str | None = None) -> str:
        query = {**row.link, **period.query()}
        if status:
            query["status"] = status
        return url_for("authority.evidence", **query)

    return [
        n(row.count("suspicious"), link("suspicious")),
        n(row.count("invalid"), link("invalid")),
        n(row.count("unregistered"), link("unregistered")),
        n(row.reports, link()),
        n(len(row.cases), link()),
    ]


def _spot_columns() -> list[str]:
    return [_("Suspicious"), _("Invalid"), _("Unregistered"), _("Reports"), _("Cases")]


def hot_spot_tables(h: HotSpots, csv_url: Callable[[str], str]) -> list[DataTable]:
    provinces = DataTable(
        "provinces",
        _("Where the checks were made and shoppers bought"),
        [_("Province or city"), *_spot_columns()],
        csv_url=csv_url("provinces"),
        empty=_("No warning in this period."),
    )
    for row in h.provinces:
        label = province_label(row.key) if row.key else _("(place not given)")
        provinces.rows.append([t(label), *_spot_cells(row, h.period)])
    producers = DataTable(
        "producers",
        _("Producers' communes whose goods are copied"),
        [_("Commune or ward"), _("Province or city"), *_spot_columns()],
        csv_url=csv_url("producers"),
        empty=_("No warning in this period."),
    )
    for row in h.producers:
        producers.rows.append(
            [
                t(row.label or _("(commune not given)")),
                t(province_label(row.extra.get("province"))),
                *_spot_cells(row, h.period),
            ]
        )
    clusters = DataTable(
        "clusters",
        _("Producers' clusters whose goods are copied"),
        [_("Park or cluster"), _("Province or city"), *_spot_columns()],
        csv_url=csv_url("clusters"),
        empty=_("No warning in this period."),
    )
    for row in h.clusters:
        clusters.rows.append(
            [
                t(row.label),
                t(province_label(row.extra.get("province"))),
                *_spot_cells(row, h.period),
            ]
        )
    places = DataTable(
        "places",
        _("Where shoppers reported buying"),
        [_("Shop and address"), _("Province or city"), _("Reports"), _("Cases")],
        csv_url=csv_url("places"),
        empty=_("No report in this period."),
    )
    for row in h.places:
        href = url_for("authority.evidence", **row.link, **h.period.query())
        places.rows.append(
            [
                t(row.label or _("(shop not given)")),
                t(province_label(row.extra.get("province")) or _("(place not given)")),
                n(row.reports, href),
                n(len(row.cases), href),
            ]
        )
    return [provinces, producers, clusters, places]


# --- evidence --------------------------------------------------------------------------------


def evidence_tables(e: Evidence, csv_url: Callable[[str], str]) -> list[DataTable]:
    stamps = DataTable(
        "stamps",
        _("Stamps behind these figures"),
        [
            _("Stamp code"),
            _("Product"),
            _("Lot number"),
            _("Producer"),
            _("Commune or ward"),
            _("Suspicious"),
            _("Invalid"),
            _("Unregistered"),
            _("Cases"),
        ],
        csv_url=csv_url("stamps"),
        empty=_("No stamp of a registered business."),
    )
    for s in e.stamps:
        stamps.rows.append(
            [
                t(s.code, url_for("inspector.dossier", code=s.code)),
                t(s.product),
                t(s.lot),
                t(s.business),
                t(s.commune),
                n(s.by_status.get("suspicious", 0)),
                n(s.by_status.get("invalid", 0)),
                n(s.by_status.get("unregistered", 0)),
                Cell(
                    " ".join(f"#{c}" for c in s.cases),
                    " ".join(f"#{c}" for c in s.cases),
                    url_for("inspector.case", case_id=s.cases[0]) if s.cases else None,
                ),
            ]
        )
    reports = DataTable(
        "reports",
        _("Shoppers' reports behind these figures"),
        [
            _("When"),
            _("Verdict"),
            _("Shop"),
            _("Address"),
            _("Province or city"),
            _("Stamp code"),
            _("Case"),
        ],
        csv_url=csv_url("reports"),
        empty=_("No report."),
    )
    for r in e.reports:
        reports.rows.append(
            [
                Cell(r.created_at.isoformat(), vn_datetime(r.created_at)),
                Cell(r.status, str(verdict_wording(r.status).headline)),
                t(r.shop_name),
                t(r.shop_address),
                t(province_label(r.province_code)),
                t(r.code, url_for("inspector.dossier", code=r.code) if r.code else None),
                Cell(
                    r.case_id or "",
                    f"#{r.case_id}" if r.case_id else "",
                    url_for("inspector.case", case_id=r.case_id) if r.case_id else None,
                ),
            ]
        )
    return [stamps, reports]


# --- register --------------------------------------------------------------------------------


def register_table(clusters: list[Cluster], csv_url: str, editable: bool) -> DataTable:
    table = DataTable(
        "register",
        _("Register of industrial parks and clusters"),
        [
            _("Park or cluster"),
            _("Kind"),
            _("Province or city"),
            _("Commune or ward"),
            _("Area (ha)"),
            _("Status"),
        ],
        csv_url=csv_url,
        empty=_("The register is empty."),
    )
    for c in clusters:
        table.rows.append(
            [
                t(c.name, url_for("authority.edit_cluster", cluster_id=c.id) if editable else None),
                Cell(c.kind, kind_label(c.kind)),
                Cell(c.province_code, province_label(c.province_code)),
                t(c.commune),
                area_ha(c.area_ha),
                Cell(c.status, status_label(c.status)),
            ]
        )
    return table


# --- CSV ---------------------------------------------------------------------------------------


def csv_download(table: DataTable, name: str) -> Response:
    """The table as UTF-8 CSV with a byte-order mark, so spreadsheet programs read the
    Vietnamese letters right; numbers raw, shares as fractions."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(safe_row(cell.value for cell in row))
    body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    response = file_bytes_response(body, "text/csv", f"{safe_filename(name)}.csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    return response
