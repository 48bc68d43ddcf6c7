"""The trace-event CSV import (portal upload and API) under any text: every row recorded,
or a clear error naming the line and nothing recorded."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import Api
from traceqr.errors import ValidationError
from traceqr.models import TraceEventRecord
from traceqr.services.traceability import CSV_COLUMNS, import_csv
from traceqr.state import AppState, utcnow

CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "packing",
            "shipping",
            "transforming",
            "commissioning",
            "in_progress",
            "2026-11-02T07:30:00+07:00",
            "2026-11-02",
            "02/11/2026",
            "12.5",
            "-1",
            "nan",
            "1e400",
            "KGM",
            "BX",
            "Xưởng",
            "08934588012228/LOT-1",
            "#1",
            "#999999999999999999999",
            "LOT;#1;/x",
            '"',
            "a,b",
            "dòng\nmới",
            "\0",
            "\u202e",
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    header = draw(
        st.lists(st.sampled_from([*CSV_COLUMNS, "x", ""]), min_size=1, max_size=6, unique=True)
    )
    if draw(st.booleans()) and "biz_step" not in header:
        header.append("biz_step")
    rows = draw(
        st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), min_size=0, max_size=4)
    )
    out = io.StringIO()
    writer = csv.writer(out, quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(st.booleans()):  # and sometimes broken by hand
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(['"', "\r", ",", "\n\n", "\ufeff"])) + text[cut:]
    return text


@pytest.fixture
def batch(api: Api) -> dict[str, Any]:
    made = api.batch(lot="LOT-1")
    assert api.post("/facilities", {"name": "Xưởng", "kind": "factory"}).status_code == 201
    return made


def events_of(state: AppState, batch_id: int) -> int:
    with state.database.session() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(TraceEventRecord)
                .where(TraceEventRecord.batch_id == batch_id)
            )
            or 0
        )


@settings(max_examples=120)
@given(text=csv_texts())
@example(text='biz_step,note\npacking,"' + "x" * 200_000 + '"\n')  # one field past csv's limit
@example(text="biz_step\n" + "packing\n" * 3)
def test_any_csv_records_every_row_or_explains_and_records_nothing(
    state: AppState, batch: dict[str, Any], business: Any, text: str
) -> None:
    before = events_of(state, batch["id"])
    with state.database.session() as session:
        try:
            created = import_csv(session, business.business.id, batch["id"], text, utcnow())
        except ValidationError as error:
            session.rollback()
            assert error.field == "file"
            assert error.message
            assert events_of(state, batch["id"]) == before
            return
        session.commit()
    assert created
    assert events_of(state, batch["id"]) == before + len(created)


def test_the_api_explains_a_field_past_the_csv_limit(api: Api, batch: dict[str, Any]) -> None:
    response = api.client.post(
        f"/api/v1/batches/{batch['id']}/events.csv",
        data='biz_step,note\npacking,"' + "x" * 200_000 + '"\n',
        headers={**api.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "file"
