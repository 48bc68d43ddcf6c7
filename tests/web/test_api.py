"""The JSON API as a business's ERP uses it: every endpoint, its errors, its statuses."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Api


def error_of(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer tqr_wrong"},
        {"Authorization": "Basic abc"},
    ],
)
def test_missing_or_wrong_key_gets_401_in_the_error_shape(
    client: FlaskClient, headers: dict
) -> None:
    response = client.post("/api/v1/products", json={"name": "x"}, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_key_is_checked_before_the_body_is_read(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/products", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


# --- products and batches ------------------------------------------------------------------


def test_create_and_read_a_product(api: Api) -> None:
    response = api.post(
        "/products",
        {"name": "Bình gốm men rạn", "gtin": "8934588012228", "origin": "Việt Nam", "brand": "HT"},
    )
    assert response.status_code == 201
    product = response.get_json()
    assert product["gtin"] == "08934588012228"
    assert response.headers["Location"].endswith(f"/api/v1/products/{product['id']}")
    again = api.get(f"/products/{product['id']}")
    assert again.status_code == 200
    assert again.get_json() == product


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x" * 301}, "name"),
        ({"name": "ok", "gtin": "8934588012229"}, "gtin"),
        ({"name": "ok", "gtin": 8934588012228}, "gtin"),
        ({"name": "ok", "gtin": "123"}, "gtin"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "bad\u0000byte"}, "name"),
        ({"name": "ok", "description": ["list"]}, "description"),
    ],
)
def test_bad_product_input_gets_400_naming_the_field(api: Api, body: dict, field: str) -> None:
    response = api.post("/products", body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == field or field in error["message"]


@pytest.mark.parametrize("raw", [b"", b"[]", b'"text"', b"{broken", b"\xff\xfe"])
def test_bodies_that_are_not_json_objects_get_400(api: Api, raw: bytes) -> None:
    response = api.client.post(
        "/api/v1/products", data=raw, headers={**api.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error_of(response)


def test_a_gtin_is_registered_once_per_business(api: Api, other_api: Api) -> None:
    api.product(gtin="8934588012228")
    duplicate = api.post("/products", {"name": "again", "gtin": "08934588012228"})
    assert duplicate.status_code == 409
    assert error_of(duplicate)["field"] == "gtin"
    # A GTIN belongs to one verified business: the first to use it (docs/identity.md).
    theirs = other_api.post("/products", {"name": "theirs", "gtin": "8934588012228"})
    assert theirs.status_code == 409
    assert error_of(theirs)["code"] == "identity_conflict"
    assert error_of(theirs)["field"] == "gtin"


def test_create_and_read_a_batch(api: Api) -> None:
    product = api.product()
    response = api.post(
        f"/products/{product['id']}/batches",
        {
            "lot": "BT-2611-A",
            "production_date": "2026-11-02",
            "expiry_date": "2027-06",
            "quantity": 500,
        },
    )
    assert response.status_code == 201
    batch = response.get_json()
    assert batch["expiry_date"] == "2027-06-30"  # month-only: end of that month
    assert batch["stamps"] == {"total": 0, "active": 0, "inactive": 0, "revoked": 0}
    assert api.get(f"/batches/{batch['id']}").get_json() == batch


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "lot"),
        ({"lot": "Lô 1"}, "lot"),
        ({"lot": "A" * 21}, "lot"),
        ({"lot": "A1", "production_date": "02/11/2026"}, "production_date"),
        ({"lot": "A1", "production_date": "2026-02-30"}, "production_date"),
        (
            {"lot": "A1", "production_date": "2026-11-02", "expiry_date": "2026-10-01"},
            "expiry_date",
        ),
        ({"lot": "A1", "quantity": "many"}, "quantity"),
        ({"lot": "A1", "quantity": 0}, "quantity"),
    ],
)
def test_bad_batch_input_gets_400(api: Api, body: dict, field: str) -> None:
    product = api.product()
    response = api.post(f"/products/{product['id']}/batches", body)
    assert response.status_code == 400
    error = error_of(response)
    assert error.get("field") == field or field in error["message"]


def test_a_lot_is_unique_within_a_product(api: Api) -> None:
    product = api.product()
    api.batch(product["id"], lot="L1")
    response = api.post(f"/products/{product['id']}/batches", {"lot": "L1"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    "path",
    ["/products/0", "/products/abc", "/products/99999999", "/products/123456789012345678901234"],
)
def test_unknown_ids_get_404_json(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


# --- stamps --------------------------------------------------------------------------------


def test_issue_stamps_and_download_them_as_csv(api: Api) -> None:
    batch = api.batch()
    issued = api.issue(batch["id"], 250)
    assert issued["count"] == 250
    assert (issued["first_seq"], issued["last_seq"]) == (1, 250)
    counts = api.get(f"/batches/{batch['id']}").get_json()["stamps"]
    assert counts == {"total": 250, "active": 250, "inactive": 0, "revoked": 0}

    response = api.get(f"/batches/{batch['id']}/stamps.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert b"\r\n" in raw  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert len(rows) == 250
    assert [int(r["seq"]) for r in rows] == list(range(1, 251))
    assert len({r["serial"] for r in rows}) == 250
    assert all(r["url"].startswith("HTTPS://TRACEQR.EXAMPLE.VN/S/") for r in rows)
    assert rows[0]["lot"] == batch["lot"]
    verdict = api.verify(rows[42]["url"])
    assert verdict["status"] == "genuine"
    assert verdict["stamp"]["short_code"] == rows[42]["short_code"]


def test_a_second_issuance_continues_the_sequence(api: Api) -> None:
    batch = api.batch()
    api.issue(batch["id"], 3)
    second = api.issue(batch["id"], 2)
    assert (second["first_seq"], second["last_seq"]) == (4, 5)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"count": 0},
        {"count": -1},
        {"count": 100_001},
        {"count": "10"},
        {"count": 10.0},
        {"count": True},
        {"count": None},
        {"count": 10, "active": "yes"},
        {"count": 10, "extra": 1},
    ],
)
def test_bad_issue_requests_get_400_and_issue_nothing(api: Api, body: dict) -> None:
    batch = api.batch()
    response = api.post(f"/batches/{batch['id']}/stamps", body)
    assert response.status_code == 400
    error_of(response)
    assert api.get(f"/batches/{batch['id']}").get_json()["stamps"]["total"] == 0


def test_inactive_stamps_verify_inactive_until_activated(api: Api) -> None:
    batch = api.batch()
    api.issue(batch["id"], 3, active=False)
    urls = api.stamp_urls(batch["id"])
    assert api.verify(urls[0])["status"] == "inactive"
    assert api.get(f"/batches/{batch['id']}").get_json()["stamps"]["inactive"] == 3

    serial = api.verify(urls[1])["stamp"]["serial"]
    response = api.post(f"/stamps/{serial}/activate")
    assert response.status_code == 200
    assert response.get_json()["active"] is True
    assert api.verify(urls[1])["status"] == "genuine"
    assert api.verify(urls[2])["status"] == "inactive"

    response = api.post(f"/batches/{batch['id']}/activate")
    assert response.status_code == 200
    assert response.get_json()["activated"] == 2
    assert api.verify(urls[2])["status"] == "genuine"
    assert response.get_json()["batch"]["stamps"]["inactive"] == 0


def test_revoke_a_stamp_by_serial_or_short_code(api: Api) -> None:
    batch = api.batch()
    api.issue(batch["id"], 2)
    first, second = api.stamp_urls(batch["id"])
    serial = api.verify(first)["stamp"]["serial"]
    response = api.post(f"/stamps/{serial}/revoke", {"reason": "Tem in lỗi"})
    assert response.status_code == 200
    assert response.get_json()["revoked"] is True
    verdict = api.verify(first)
    assert verdict["status"] == "revoked"
    assert verdict["stamp"]["revoke_reason"] == "Tem in lỗi"
    # The short code works as well, and revoking needs no body.
    short = api.verify(second)["stamp"]["short_code"]
    assert api.post(f"/stamps/{short.lower()}/revoke").status_code == 200
    assert api.verify(second)["status"] == "revoked"
    assert api.get(f"/batches/{batch['id']}").get_json()["stamps"]["revoked"] == 2


@pytest.mark.parametrize("serial", ["nope", "0" * 40, "ABCD-EFGH"])
def test_malformed_serials_get_400(api: Api, serial: str) -> None:
    response = api.post(f"/stamps/{serial}/revoke")
    assert response.status_code == 400
    assert error_of(response)["field"] == "serial"


def test_an_unknown_serial_gets_404(api: Api) -> None:
    assert api.post("/stamps/0000000000000000/revoke").status_code == 404


def test_recall_a_batch(api: Api) -> None:
    batch = api.batch()
    api.issue(batch["id"], 2)
    url = api.stamp_urls(batch["id"])[0]
    assert api.post(f"/batches/{batch['id']}/recall", {}).status_code == 400
    response = api.post(f"/batches/{batch['id']}/recall", {"reason": "Nhiễm khuẩn"})
    assert response.status_code == 200
    assert response.get_json()["recalled"] is True
    verdict = api.verify(url)
    assert verdict["status"] == "recalled"
    assert verdict["batch"]["recall_reason"] == "Nhiễm khuẩn"
    # A recalled batch gets no new stamps.
    assert api.post(f"/batches/{batch['id']}/stamps", {"count": 1}).status_code == 409


# --- tenant isolation ----------------------------------------------------------------------


def test_another_business_gets_404_on_everything(api: Api, other_api: Api) -> None:
    product = api.product()
    batch = api.batch(product["id"])
    api.issue(batch["id"], 1)
    serial = api.verify(api.stamp_urls(batch["id"])[0])["stamp"]["serial"]
    attempts = [
        other_api.get(f"/products/{product['id']}"),
        other_api.post(f"/products/{product['id']}/batches", {"lot": "X1"}),
        other_api.get(f"/batches/{batch['id']}"),
        other_api.post(f"/batches/{batch['id']}/stamps", {"count": 1}),
        other_api.post(f"/batches/{batch['id']}/activate"),
        other_api.post(f"/batches/{batch['id']}/recall", {"reason": "hostile"}),
        other_api.get(f"/batches/{batch['id']}/stamps.csv"),
        other_api.get(f"/batches/{batch['id']}/sheet.pdf"),
        other_api.get(f"/stamps/{serial}"),
        other_api.post(f"/stamps/{serial}/activate"),
        other_api.post(f"/stamps/{serial}/revoke", {"reason": "hostile"}),
    ]
    for response in attempts:
        assert response.status_code == 404, response.request.path
        assert error_of(response)["code"] == "not_found"
    # Nothing changed.
    mine = api.get(f"/batches/{batch['id']}").get_json()
    assert mine["recalled"] is False
    assert mine["stamps"] == {"total": 1, "active": 1, "inactive": 0, "revoked": 0}


# --- public endpoints ----------------------------------------------------------------------


def test_verify_needs_q(client: FlaskClient) -> None:
    for query in ({}, {"q": ""}, {"q": "   "}):
        response = client.get("/api/v1/verify", query_string=query)
        assert response.status_code == 400
        assert error_of(response)["field"] == "q"


def test_openapi_describes_every_route(client: FlaskClient, app: Any) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    documented = set(document["paths"])
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = rule.rule.removeprefix("/api/v1")
            path = path.replace("<id:", "{").replace("<", "{").replace(">", "}")
            assert path in documented, path
    for ref_holder in (document["paths"]["/products"]["post"]["requestBody"],):
        ref = ref_holder["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1] in document["components"]["schemas"]


def test_unknown_api_routes_and_methods_answer_json(api: Api) -> None:
    assert error_of(api.get("/nothing-here"))["code"] == "not_found"
    response = api.client.delete("/api/v1/products/1", headers=api.headers)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_a_large_issuance_runs_as_a_job_the_api_polls(api: Api, other_api: Api, state: Any) -> None:
    batch = api.batch()
    response = api.post(f"/batches/{batch['id']}/stamp-jobs", {"count": 20_000})
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["status"] in ("queued", "running", "done") and job["total"] == 20_000
    assert response.headers["Location"] == job["url"] == f"/api/v1/jobs/{job['id']}"
    state.jobs.wait(job["id"])
    finished = api.get(f"/jobs/{job['id']}").get_json()
    assert finished["status"] == "done"
    assert finished["result"] == {
        "count": 20_000,
        "first_seq": 1,
        "last_seq": 20_000,
        "test": False,
    }
    assert api.get(f"/batches/{batch['id']}").get_json()["stamps"]["total"] == 20_000
    assert other_api.get(f"/jobs/{job['id']}").status_code == 404

    for body in ({"count": 0}, {"count": "5"}, {"count": 1_000_001}, {}):
        assert api.post(f"/batches/{batch['id']}/stamp-jobs", body).status_code == 400
    api.post(f"/batches/{batch['id']}/recall", {"reason": "x"})
    assert api.post(f"/batches/{batch['id']}/stamp-jobs", {"count": 5}).status_code == 409
