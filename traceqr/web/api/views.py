"""API endpoints: parse the request, call a service, commit once, answer JSON."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Response, g, jsonify, request, url_for
from pydantic import BaseModel

from traceqr.domain.dates import iso_vietnam
from traceqr.domain.keys import kid_text
from traceqr.domain.provinces import province
from traceqr.domain.stamp_format import serial_text, short_code
from traceqr.errors import Conflict, NotFound, Unauthorized, ValidationError
from traceqr.models import Batch, Product, Stamp
from traceqr.services import catalog, issuance, jobs, stamps
from traceqr.services.businesses import authenticate_api_key
from traceqr.services.shoppers import clean_place
from traceqr.services.verification import ClientFacts, Verification
from traceqr.web.api import blueprint
from traceqr.web.api.openapi import openapi_document
from traceqr.web.api.schemas import (
    BatchIn,
    IssueIn,
    ProductIn,
    RecallIn,
    RevokeIn,
    StampJobIn,
)
from traceqr.web.context import db_session, now, state
from traceqr.web.downloads import (
    csv_response,
    file_response,
    safe_filename,
    saved_file_response,
)
from traceqr.web.ratelimit import limited
from traceqr.web.wording import verdict_wording

if TYPE_CHECKING:
    from traceqr.domain.sheet import SheetLayout

M = TypeVar("M", bound=BaseModel)
PUBLIC_ENDPOINTS = {"api.verify", "api.openapi"}


@blueprint.before_request
def require_api_key() -> None:
    """Bearer authentication, checked before anything reads the request body."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
    api_key = authenticate_api_key(db_session(), token.strip(), now())
    if api_key is None:
        raise Unauthorized("the API key is not valid or has been revoked")
    db_session().commit()  # records last use
    g.api_key = api_key
    g.business_id = api_key.business_id


@blueprint.after_request
def add_www_authenticate(response: Response) -> Response:
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="traceqr"'
    return response


def parse_body(model: type[M], *, optional: bool = False) -> M:
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return model()
        raise ValidationError("the request needs a JSON object body")
    too_deep = ValidationError("the JSON body is nested too deeply")
    try:
        data = request.get_json(force=True, silent=True)
    except RecursionError as exc:  # thousands of nested brackets: refused, not a 500
        raise too_deep from exc
    if not isinstance(data, dict):
        raise ValidationError("the body is not a JSON object")
    try:
        return model.model_validate(data)
    except RecursionError as exc:
        raise too_deep from exc


def created(payload: dict[str, Any], location: str) -> tuple[Response, int]:
    response = jsonify(payload)
    response.headers["Location"] = location
    return response, 201


# --- serializers ---------------------------------------------------------------------------


def product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "gtin": product.gtin,
        "description": product.description,
        "brand": product.brand,
        "category": product.category,
        "origin": product.origin,
        "standards": product.standards,
        "created_at": iso_vietnam(product.created_at),
    }


def batch_json(batch: Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "product_id": batch.product_id,
        "lot": batch.lot,
        "production_date": batch.production_date.isoformat() if batch.production_date else None,
        "expiry_date": batch.expiry_date.isoformat() if batch.expiry_date else None,
        "quantity": batch.quantity,
        "facility": batch.facility,
        "notes": batch.notes,
        "requires_activation": batch.requires_activation,
        "with_pin": batch.with_pin,
        "stamp_format": batch.stamp_format,
        "recalled": batch.recalled_at is not None,
        "recalled_at": iso_vietnam(batch.recalled_at),
        "recall_reason": batch.recall_reason,
        "stamps": {
            "total": batch.stamps_total,
            "active": batch.stamps_active,
            "inactive": batch.stamps_total - batch.stamps_active,
            "revoked": batch.stamps_revoked,
        },
        "created_at": iso_vietnam(batch.created_at),
    }


def stamp_json(stamp: Stamp) -> dict[str, Any]:
    kid = stamps.kid_of(db_session(), stamp)
    return {
        "serial": serial_text(stamp.serial),
        "short_code": short_code(stamp.serial),
        "url": stamps.stamp_url_of(db_session(), stamp, state().settings.public_url),
        "batch_id": stamp.batch_id,
        "seq": stamp.seq,
        "kid": kid_text(kid),
        "active": stamp.active,
        "activated_at": iso_vietnam(stamp.activated_at),
        "revoked": stamp.revoked_at is not None,
        "revoked_at": iso_vietnam(stamp.revoked_at),
        "revoke_reason": stamp.revoke_reason,
        "scans": {"count": stamp.scan_count, "first_at": iso_vietnam(stamp.first_scan_at)},
    }


# --- products and batches ------------------------------------------------------------------


@blueprint.post("/products")
@limited("api")
def create_product() -> tuple[Response, int]:
    body = parse_body(ProductIn)
    product = catalog.create_product(
        db_session(), g.business_id, body.model_dump(exclude_unset=True), now()
    )
    db_session().commit()
    return created(product_json(product), url_for("api.get_product", product_id=product.id))


@blueprint.get("/products/<id:product_id>")
@limited("api")
def get_product(product_id: int) -> dict[str, Any]:
    return product_json(catalog.get_product(db_session(), g.business_id, product_id))


@blueprint.post("/products/<id:product_id>/batches")
@limited("api")
def create_batch(product_id: int) -> tuple[Response, int]:
    body = parse_body(BatchIn)
    batch = catalog.create_batch(
        db_session(), g.business_id, product_id, body.model_dump(exclude_unset=True), now()
    )
    db_session().commit()
    return created(batch_json(batch), url_for("api.get_batch", batch_id=batch.id))


@blueprint.get("/batches/<id:batch_id>")
@limited("api")
def get_batch(batch_id: int) -> dict[str, Any]:
    return batch_json(catalog.get_batch(db_session(), g.business_id, batch_id))


# --- stamps --------------------------------------------------------------------------------


@blueprint.post("/batches/<id:batch_id>/stamps")
@limited("api")
def issue_stamps(batch_id: int) -> tuple[Response, int]:
    body = parse_body(IssueIn)
    session = db_session()
    batch = catalog.get_batch(session, g.business_id, batch_id)
    result = issuance.issue_stamps(
        session,
        state().keystore,
        batch,
        body.count,
        active=body.active,
        now=now(),
        max_count=state().settings.max_stamps_per_request,
        pins=state().pins,
        daily_quota=state().settings.max_stamps_per_business_day,
    )
    session.commit()
    payload = {
        "count": result.count,
        "batch_id": batch.id,
        "first_seq": result.first_seq,
        "last_seq": result.last_seq,
        "kid": kid_text(result.kid),
        "active": result.active,
        "test": result.test,
        "csv_url": url_for("api.stamps_csv", batch_id=batch.id),
        "sheet_url": url_for("api.sheet_pdf", batch_id=batch.id),
    }
    return created(payload, url_for("api.get_batch", batch_id=batch.id))


@blueprint.post("/batches/<id:batch_id>/stamp-jobs")
@limited("api")
def issue_stamps_in_background(batch_id: int) -> tuple[Response, int]:
    """Up to 1,000,000 stamps, issued by a background job (a queue worker when one is
    configured); all of them or none. Answers 202 at once with the job to poll."""
    body = parse_body(StampJobIn)
    session = db_session()
    batch = catalog.get_batch(session, g.business_id, batch_id)
    if batch.recalled_at is not None:
        raise Conflict("batch %(id)s is recalled: it gets no new stamps", id=batch.id)
    state().jobs.fail_orphans(g.business_id)  # a dead process's job holds no place
    job = jobs.create_issue_job(
        session,
        business_id=g.business_id,
        user_id=None,
        batch_id=batch.id,
        count=body.count,
        active=body.active,
        now=now(),
        quotas=jobs.Quotas.of(state().settings),
    )
    return started(job)


def started(job: Any) -> tuple[Response, int]:
    """Commit a new job, start it and answer 202 with it."""
    db_session().commit()
    state().jobs.start(job.id)
    response = jsonify(job_json(job))
    response.headers["Location"] = url_for("api.get_job", job_id=job.id)
    return response, 202


def job_json(job: Any) -> dict[str, Any]:
    done, total = state().jobs.progress(job)
    sheet_ready = jobs.finished_sheet(job, state().settings.instance_path) is not None
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "done": done,
        "total": total,
        "batch_id": json.loads(job.params).get("batch_id"),
        "result": json.loads(job.result) if job.result else None,
        "error": job.error,
        "created_at": iso_vietnam(job.created_at),
        "url": url_for("api.get_job", job_id=job.id),
        "download_url": url_for("api.job_sheet_pdf", job_id=job.id) if sheet_ready else None,
    }


@blueprint.get("/jobs/<id:job_id>")
@limited("api")
def get_job(job_id: int) -> dict[str, Any]:
    state().jobs.fail_orphans(g.business_id)  # a job whose process died shows as failed
    job = jobs.get_job(db_session(), g.business_id, job_id)
    db_session().refresh(job)
    return job_json(job)


@blueprint.post("/batches/<id:batch_id>/activate")
@limited("api")
def activate_batch(batch_id: int) -> dict[str, Any]:
    session = db_session()
    changed = stamps.activate_batch(session, g.business_id, batch_id, now())
    session.commit()
    batch = catalog.get_batch(session, g.business_id, batch_id)
    return {"activated": changed, "batch": batch_json(batch)}


@blueprint.get("/stamps/<serial>")
@limited("api")
def get_stamp(serial: str) -> dict[str, Any]:
    return stamp_json(stamps.get_stamp(db_session(), g.business_id, serial))


@blueprint.post("/stamps/<serial>/activate")
@limited("api")
def activate_stamp(serial: str) -> dict[str, Any]:
    session = db_session()
    stamp = stamps.activate_stamp(session, g.business_id, serial, now())
    session.commit()
    return stamp_json(stamp)


@blueprint.post("/stamps/<serial>/revoke")
@limited("api")
def revoke_stamp(serial: str) -> dict[str, Any]:
    body = parse_body(RevokeIn, optional=True)
    session = db_session()
    stamp = stamps.revoke_stamp(session, g.business_id, serial, body.reason, now())
    session.commit()
    return stamp_json(stamp)


@blueprint.post("/batches/<id:batch_id>/recall")
@limited("api")
def recall_batch(batch_id: int) -> dict[str, Any]:
    body = parse_body(RecallIn)
    session = db_session()
    batch = stamps.recall_batch(session, g.business_id, batch_id, body.reason, now())
    session.commit()
    return batch_json(batch)


@blueprint.get("/batches/<id:batch_id>/stamps.csv")
@limited("api")
def stamps_csv(batch_id: int) -> Response:
    """Every stamp of the batch, in issue order, for variable-data printing."""
    session = db_session()
    batch = catalog.get_batch(session, g.business_id, batch_id)
    product = catalog.get_product(session, g.business_id, batch.product_id)
    return csv_response(state(), batch, product)


def _float_arg(name: str, default: float) -> float:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number of millimetres", field=name) from None
    if not 0 <= value <= 1000:
        raise ValidationError(f"{name} must be between 0 and 1000 mm", field=name)
    return value


def sheet_layout_from_args() -> SheetLayout:
    from traceqr.domain.sheet import SheetLayout, SheetLayoutError

    defaults = SheetLayout()
    ecc = request.args.get("ecc", defaults.ecc).upper()
    if ecc not in ("L", "M", "Q", "H"):
        raise ValidationError("ecc must be L, M, Q or H", field="ecc")
    cut_marks = request.args.get("cut_marks", "").lower() in ("1", "true", "yes", "on")
    try:
        return SheetLayout(
            stamp_mm=_float_arg("stamp_mm", defaults.stamp_mm),
            margin_mm=_float_arg("margin_mm", defaults.margin_mm),
            gap_mm=_float_arg("gap_mm", defaults.gap_mm),
            ecc=ecc,
            cut_marks=cut_marks,
        )
    except SheetLayoutError as exc:
        raise ValidationError(str(exc), field="layout") from exc


def batch_sheet_layout(batch: Any) -> SheetLayout:
    """The layout the query asks for (stamp_mm, margin_mm, gap_mm, ecc, cut_marks); with no
    stamp_mm, denser codes (GS1 Digital Link stamps) are made just big enough."""
    from traceqr.domain.sheet import SheetLayoutError, check_stamp_fits, fit_stamp_size

    if batch.stamps_total == 0:
        raise ValidationError("this batch has no stamps yet: issue some first")
    layout = replace(sheet_layout_from_args(), pin_spot=batch.with_pin)
    first = next(
        stamps.iter_batch_stamps(db_session(), batch, state().settings.public_url, chunk=1)
    )
    try:
        if not request.args.get("stamp_mm"):
            layout = fit_stamp_size(layout, first.url)
        check_stamp_fits(first.url, layout)  # before a job is queued, not when it runs
    except SheetLayoutError as exc:
        raise ValidationError(str(exc), field="layout") from exc
    return layout


@blueprint.get("/batches/<id:batch_id>/sheet.pdf")
@limited("api")
def sheet_pdf(batch_id: int) -> Response:
    """A printable vector PDF of every stamp of the batch, each printed once; a batch of
    more than ``TRACEQR_SYNC_SHEET_MAX_STAMPS`` stamps gets 413 naming the sheet job."""
    from traceqr.domain.sheet import SheetLayoutError
    from traceqr.services.sheets import check_sync_sheet, write_batch_sheet

    session = db_session()
    batch = catalog.get_batch(session, g.business_id, batch_id)
    check_sync_sheet(batch, state().settings.sync_sheet_max_stamps)
    layout = batch_sheet_layout(batch)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the answer is sent
    try:
        write_batch_sheet(session, batch, state().settings.public_url, state().pins, spool, layout)
    except SheetLayoutError as exc:
        spool.close()
        raise ValidationError(str(exc), field="layout") from exc
    return file_response(
        spool, "application/pdf", f"sheet-batch{batch.id}-{safe_filename(batch.lot)}.pdf"
    )


@blueprint.post("/batches/<id:batch_id>/sheet-jobs")
@limited("api")
def sheet_in_background(batch_id: int) -> tuple[Response, int]:
    """The batch's sheet (same query parameters as sheet.pdf) written by a background job,
    for batches too large to wait for: answers 202 at once with the job to poll; its
    ``download_url`` gives the PDF when it is done."""
    session = db_session()
    batch = catalog.get_batch(session, g.business_id, batch_id)
    layout = batch_sheet_layout(batch)
    jobs.remove_old_sheets(session, state().settings.instance_path, now())
    state().jobs.fail_orphans(g.business_id)  # a dead process's job holds no place
    job = jobs.create_sheet_job(
        session,
        business_id=g.business_id,
        user_id=None,
        batch=batch,
        layout=layout,
        side_text=None,
        with_logo=False,
        now=now(),
        quotas=jobs.Quotas.of(state().settings),
    )
    return started(job)


@blueprint.get("/jobs/<id:job_id>/sheet.pdf")
@limited("api")
def job_sheet_pdf(job_id: int) -> Response:
    """The PDF a finished sheet job wrote."""
    job = jobs.get_job(db_session(), g.business_id, job_id)
    path = jobs.finished_sheet(job, state().settings.instance_path)
    if path is None:
        raise NotFound("job %(id)s has no sheet to download", id=job_id)
    batch_id = json.loads(job.params)["batch_id"]
    return saved_file_response(path, "application/pdf", f"sheet-batch{batch_id}-job{job.id}.pdf")


# --- public --------------------------------------------------------------------------------


def verification_json(result: Verification) -> dict[str, Any]:
    origin = result.origin
    body: dict[str, Any] = {
        "status": result.status.value,
        "signature_valid": result.verdict.signature_valid,
        "reasons": [reason.value for reason in result.verdict.reasons],
        "message": str(verdict_wording(result.status.value, result.is_test).headline),
        "scans": {"count": result.scan_count, "first_at": iso_vietnam(result.first_scan_at)},
        "checked_at": iso_vietnam(result.scanned_at),
        "test": result.is_test,
    }
    if result.stamp is not None:
        body["stamp"] = {
            "serial": serial_text(result.stamp.serial),
            "short_code": short_code(result.stamp.serial),
            "kid": kid_text(result.stamp.kid),
            "format_version": result.stamp.version,
            "seq": result.seq,
            "active": result.active,
            "revoked_at": iso_vietnam(result.revoked_at),
            "revoke_reason": result.revoke_reason,
            "has_pin": result.has_pin,
            "claimed_at": iso_vietnam(result.claimed_at),
        }
    if result.key is not None and result.verdict.signature_valid:
        body["business"] = {
            "id": result.key.public.business_id,
            "name": None if result.is_test else result.key.public.business_name,
            "verified": None,
        }
    if origin and result.is_test:
        # A test stamp vouches for nobody: the name its unverified business gave, no more.
        body["business"] = {"id": origin["business_id"], "name": origin["business_name"]}
        body["business"]["verified"] = None
    if origin and not result.is_test:
        place = province(origin["province_code"])
        address = ", ".join(
            part
            for part in (
                origin["address_street"],
                origin["address_commune"],
                place.name_vi if place else None,
            )
            if part
        )
        body["business"] = {
            "id": origin["business_id"],
            "name": origin["business_name"],
            "legal_name": origin["legal_name"],
            "address": address or None,
            "province": place.name_vi if place else None,
            "cluster": origin["cluster_name"],
            "phone": origin["phone"],
            "website": origin["website"],
            "verified": _verified_json(result.verified_producer),
        }
        if result.key is not None and result.key.withdrawn_at is not None:
            body["business"]["verification_withdrawn_at"] = iso_vietnam(result.key.withdrawn_at)
    if origin:
        body["product"] = {
            "id": origin["product_id"],
            "name": origin["product_name"],
            "gtin": origin["gtin"],
            "brand": origin["brand"],
            "category": origin["category"],
            "origin": origin["origin"],
            "standards": origin["standards"],
        }
        body["batch"] = {
            "id": origin["batch_id"],
            "lot": origin["lot"],
            "production_date": _iso_date(origin["production_date"]),
            "expiry_date": _iso_date(origin["expiry_date"]),
            "recalled_at": iso_vietnam(origin["recalled_at"]),
            "recall_reason": origin["recall_reason"],
        }
    return body


def _verified_json(producer: dict[str, Any] | None) -> dict[str, Any] | None:
    """The producer's identity as a reviewer checked it, or None."""
    if producer is None:
        return None
    return {
        "legal_name": producer["legal_name"],
        "tax_code": producer["tax_code"],
        "verified_at": iso_vietnam(producer["verified_at"]),
        "verified_by": producer["verified_by"],
    }


def _iso_date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@blueprint.get("/verify")
@limited("verify")
def verify() -> dict[str, Any]:
    """Verify any scanned text: a stamp URL, a bare code or a printed short code."""
    text = request.args.get("q")
    if text is None or not text.strip():
        raise ValidationError("give the scanned text as ?q=", field="q")
    province_code, lat, lon = clean_place(
        request.args.get("province"), request.args.get("lat"), request.args.get("lon")
    )
    client = ClientFacts(
        address=request.remote_addr,
        user_agent=request.user_agent.string,
        province_code=province_code,
        lat=lat,
        lon=lon,
    )
    result = state().verifier.verify(text, now=now(), channel="api", client=client)
    return verification_json(result)


@blueprint.get("/openapi.json")
def openapi() -> dict[str, Any]:
    return openapi_document(request.host_url.rstrip("/"))
