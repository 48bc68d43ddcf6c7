"""Schemathesis against /api/v1/openapi.json: every operation, with data that fits the
document and data that does not, sent with a real API key. No answer may be a 5xx, and
every answer must be one the document declares, with its content type, headers and body
schema.

Path parameters are half the time the ids of the business's real objects, so the
operations are exercised on existing products, batches, stamps, jobs and shipments, not
only on 404s. Examples are derandomized and bounded, so the run is the same every time and
takes well under a minute.
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.conftest import Api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
    unsupported_method,
]
# TRACEQR_FUZZ_SCALE=10 explores ten times as many examples (a longer run by hand).
SCALE = int(os.environ.get("TRACEQR_FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 12 * SCALE, GenerationMode.NEGATIVE: 6 * SCALE}
MAX_STAMPS = 20  # bigger counts are valid, but only slow the run down


def real_objects(app: Flask, make_business: Any) -> tuple[str, dict[str, Any], str]:
    """A business with one of everything the API names in its paths."""
    client = app.test_client()
    owner = make_business("Chủ sở hữu", tax_code="0101243150")  # verified: it receives
    partner = make_business("Đối tác", tax_code="0100109106")
    api = Api(client, owner.api_key)
    other = Api(client, partner.api_key)
    product = api.product(gtin="8934588012228")
    batch = api.batch(product["id"], lot="LOT-1", with_pin=True)
    api.issue(batch["id"], 3)
    rows = list(
        csv.DictReader(
            io.StringIO(api.get(f"/batches/{batch['id']}/stamps.csv").get_data(as_text=True))
        )
    )
    job = api.post(f"/batches/{batch['id']}/stamp-jobs", {"count": 2}).get_json()
    other_batch = other.batch(lot="LOT-P")
    shipped = other.post(f"/batches/{other_batch['id']}/shipments", {"partner": "0101243150"})
    assert shipped.status_code == 201, shipped.get_json()
    api.post("/facilities", {"name": "Xưởng", "kind": "factory"})
    api.post(f"/batches/{batch['id']}/events", {"biz_step": "packing"})
    ids = {
        "product_id": product["id"],
        "batch_id": batch["id"],
        "serial": rows[0]["short_code"],
        "job_id": job["id"],
        "shipment_id": shipped.get_json()["id"],
    }
    assert owner.api_key is not None
    return owner.api_key, ids, rows[1]["url"]


def fuzz_operation(
    operation: Any, mode: GenerationMode, headers: dict[str, str], ids: dict[str, Any], url: str
) -> list[str]:
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
    def run(case: Any, real: bool) -> None:
        if real and case.path_parameters:
            case.path_parameters = {k: ids.get(k, v) for k, v in case.path_parameters.items()}
        if real and isinstance(case.query, dict) and "q" in case.query:
            case.query = {**case.query, "q": url}
        if isinstance(case.body, dict) and isinstance(case.body.get("count"), int):
            case.body = {**case.body, "count": max(-1, min(case.body["count"], MAX_STAMPS))}
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except BaseException as error:  # schemathesis reports failures as exception groups
            if isinstance(error, KeyboardInterrupt):
                raise
            failures.append(f"{mode.value} {operation.label}: {error}"[:3000])

    run()
    return failures


@pytest.mark.slow
def test_every_api_operation_answers_as_its_openapi_document_says(
    app: Flask, make_business: Any
) -> None:
    key, ids, url = real_objects(app, make_business)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The WSGI transport hands schemathesis the body as sent, and the app compresses large
    # JSON for clients that accept it (requests' default headers do): ask for it plain.
    headers = {"Authorization": f"Bearer {key}", "Accept-Encoding": "identity"}
    failures: list[str] = []
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        for mode in EXAMPLES:
            failures += fuzz_operation(operation, mode, headers, ids, url)
    assert len(labels) >= 25, labels
    assert not failures, "\n\n".join(dict.fromkeys(failures))
