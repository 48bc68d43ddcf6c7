"""Values the database cannot store (numbers past a column's range, NUL characters) are
the client's mistake: a 4xx with the usual error shape, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


@pytest.fixture
def batch(api: Api) -> dict[str, Any]:
    return api.batch(lot="LOT-1")


def test_a_partner_with_a_nul_character_is_no_partner(api: Api, batch: dict[str, Any]) -> None:
    response = api.post(f"/batches/{batch['id']}/shipments", {"partner": "0100109106\u0000"})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "partner"


@pytest.mark.parametrize("number", [2**31, 2**40, 2**63 - 1])
def test_ids_in_a_body_past_any_row_are_refused_not_crashed_on(
    api: Api, batch: dict[str, Any], number: int
) -> None:
    for path, body in [
        (f"/batches/{batch['id']}/events", {"biz_step": "packing", "facility_id": number}),
        (f"/batches/{batch['id']}/shipments", {"partner": number}),
        (f"/batches/{batch['id']}/shipments", {"partner": str(number)}),
        (
            f"/batches/{batch['id']}/events",
            {"biz_step": "transforming", "inputs": [{"batch_id": number}]},
        ),
    ]:
        response = api.post(path, body)
        assert response.status_code in (400, 404), (path, body, response.get_data(as_text=True))
        assert set(response.get_json()["error"]) >= {"code", "message"}


@pytest.mark.parametrize("path", ["/portal/batches/2147483648", "/api/v1/batches/99999999999"])
def test_ids_in_a_url_past_any_row_are_not_found(api: Api, path: str) -> None:
    assert api.client.get(path, headers=api.headers).status_code in (302, 404)
