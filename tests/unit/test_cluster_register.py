"""The register CSV as departments write it, and the dashboards' chart geometry."""

from __future__ import annotations

import pytest

from traceqr.domain.charts import chart_svg, nice_ceiling, stacked_bars
from traceqr.domain.clusters import (
    ClusterEntry,
    clean_entry,
    parse_area,
    parse_register_csv,
    province_from_text,
    register_csv_rows,
)


def test_vietnamese_and_english_spellings_read_the_same() -> None:
    text = (
        "\ufeffTên,Loại,Tỉnh,Xã,Diện tích (ha),Trạng thái\r\n"
        "Cụm công nghiệp Phú Thị,Cụm công nghiệp,Thành phố Hà Nội,Xã Phú Thị,"
        '"12,5",Đang hoạt động\r\n'
        "\r\n"
        "Khu công nghiệp Quế Võ,KCN,bac-ninh,,611,founded\r\n"
    )
    entries, problems = parse_register_csv(text)
    assert problems == []
    phu_thi = ClusterEntry(
        "Cụm công nghiệp Phú Thị", "cluster", "ha-noi", "Xã Phú Thị", 12.5, "operating"
    )
    que_vo = ClusterEntry("Khu công nghiệp Quế Võ", "park", "bac-ninh", None, 611.0, "founded")
    assert entries == [(2, phu_thi), (4, que_vo)]


def test_every_bad_line_is_named_with_its_field() -> None:
    text = (
        "name,kind,province,commune,area_ha,status\n"
        "A,cụm công nghiệp,Hà Nội,,1,đang hoạt động\n"
        ",nhà máy,Hà Tây,,-3,đóng cửa\n"
        "a,CCN,ha-noi,,,building\n"
        "B,CCN,ha-noi\n"
    )
    entries, problems = parse_register_csv(text)
    assert [e.name for _, e in entries] == ["A"]
    assert [(p.line, p.problem.field) for p in problems] == [
        (3, "name"),
        (3, "kind"),
        (3, "province"),
        (3, "area_ha"),
        (3, "status"),
        (4, "name"),  # the same cluster as line 2, up to case
        (5, "file"),  # too few cells
    ]
    assert problems[2].problem.message == "Hà Tây is not one of the 34 provinces"


@pytest.mark.parametrize(
    ("header", "field"),
    [("name,kind,province,colour,status", "file"), ("name,kind,status", "file")],
)
def test_a_wrong_header_stops_at_line_one(header: str, field: str) -> None:
    entries, problems = parse_register_csv(header + "\nA,CCN,ha-noi,x,operating\n")
    assert entries == []
    assert [(p.line, p.problem.field) for p in problems] == [(1, field)]


def test_empty_and_binary_files_are_explained() -> None:
    assert parse_register_csv("")[1][0].problem.message == "the file is empty"
    _, problems = parse_register_csv("name,kind,province,status\n")
    assert problems[0].problem.message == "the file has no clusters"


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12.0), ("12,5", 12.5), ("12.5", 12.5), ("2.657,7", 2657.7), ("2,657.7", 2657.7)],
)
def test_areas_in_either_decimal_style(text: str, value: float) -> None:
    assert parse_area(text) == value


@pytest.mark.parametrize("text", ["ba ha", "1,2,3", "-4", "12 ha"])
def test_areas_that_are_not_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_area(text)


def test_provinces_by_code_or_name() -> None:
    assert province_from_text("ha-noi") == "ha-noi"
    assert province_from_text("TP. Hồ Chí Minh") == "ho-chi-minh"
    assert province_from_text("Tỉnh Bắc Ninh") == "bac-ninh"
    assert province_from_text("Bac Ninh") == "bac-ninh"
    assert province_from_text("Hà Tây") is None  # merged into Hà Nội in 2008


def test_the_export_reads_back() -> None:
    entry, problems = clean_entry(
        {"name": " CCN  Kiêu Kỵ ", "kind": "cluster", "province": "ha-noi", "status": "founded"}
    )
    assert problems == [] and entry is not None and entry.name == "CCN Kiêu Kỵ"
    rows = register_csv_rows([entry])
    text = "\n".join(",".join(row) for row in rows)
    assert [e for _, e in parse_register_csv(text)[0]] == [entry]


def test_bars_stack_and_scale_to_a_round_top() -> None:
    chart = stacked_bars(["a", "b"], [[10, 30], [5, 0]], width=200, height=100)
    assert nice_ceiling(35) == 50 and nice_ceiling(0) == 1
    assert [t[1] for t in chart.y_ticks] == [0, 10, 20, 30, 40, 50]
    first, warn, second = chart.bars
    assert (first.series, warn.series, second.series) == (0, 1, 0)
    assert warn.y + warn.height == pytest.approx(first.y)  # stacked on top
    assert second.height == pytest.approx(3 * first.height)
    with pytest.raises(ValueError):
        stacked_bars(["a"], [[1, 2]])


def test_the_svg_escapes_labels_and_carries_no_style() -> None:
    chart = stacked_bars(["<b>"], [[1]])
    svg = chart_svg(chart, 'Checks "&" more', ["genuine"])
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "style=" not in svg and "<script" not in svg
    assert "aria-label='Checks \"&amp;\" more'" in svg
