"""The printed sheet from the API, read back as a printer's output would be."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.sheet_reading import read_sheet
from traceqr.domain.sheet import SheetLayout


def test_every_stamp_on_the_sheet_decodes_once_and_verifies_genuine(api: Api) -> None:
    layout = SheetLayout()
    batch = api.batch(lot="BT-2611-A")
    count = layout.per_page + 7  # two pages
    api.issue(batch["id"], count)
    response = api.get(f"/batches/{batch['id']}/sheet.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pdf = response.get_data()
    assert b"/Subtype /Image" not in pdf  # vector, not raster

    cells = read_sheet(pdf, layout)
    assert [len(texts) for texts in cells] == [1] * count  # one QR per stamp, no other QR
    decoded = [texts[0] for texts in cells]
    assert decoded == api.stamp_urls(batch["id"])  # each stamp once, in issue order
    for url in decoded:
        assert api.verify(url)["status"] == "genuine"


def test_sheet_parameters_change_the_layout(api: Api) -> None:
    layout = SheetLayout(stamp_mm=30, margin_mm=10, gap_mm=3, ecc="H", cut_marks=True)
    batch = api.batch()
    api.issue(batch["id"], 5)
    response = api.get(
        f"/batches/{batch['id']}/sheet.pdf?stamp_mm=30&margin_mm=10&gap_mm=3&ecc=h&cut_marks=1"
    )
    assert response.status_code == 200
    cells = read_sheet(response.get_data(), layout)
    assert sorted(texts[0] for texts in cells) == sorted(api.stamp_urls(batch["id"]))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("stamp_mm=10", "layout"),  # modules would be under 0.4 mm
        ("stamp_mm=abc", "stamp_mm"),
        ("stamp_mm=-5", "stamp_mm"),
        ("margin_mm=200", "layout"),
        ("ecc=Z", "ecc"),
        ("gap_mm=nan", "gap_mm"),
    ],
)
def test_bad_sheet_parameters_get_400_with_the_reason(api: Api, query: str, field: str) -> None:
    batch = api.batch()
    api.issue(batch["id"], 1)
    response = api.get(f"/batches/{batch['id']}/sheet.pdf?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field, error
    assert error["message"]


def test_a_batch_without_stamps_has_no_sheet(api: Api) -> None:
    batch = api.batch()
    response = api.get(f"/batches/{batch['id']}/sheet.pdf")
    assert response.status_code == 400
    assert "no stamps" in response.get_json()["error"]["message"]
