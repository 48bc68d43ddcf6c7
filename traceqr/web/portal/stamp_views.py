"""A batch's stamps: issue (in the background), activate, revoke, recall, print, download."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from traceqr.domain.dates import iso_vietnam
from traceqr.domain.sheet import (
    SheetLayout,
    SheetLayoutError,
    SheetStamp,
    check_stamp_fits,
    fit_stamp_size,
    side_text_block,
)
from traceqr.errors import N_, NotFound, TraceQRError, ValidationError
from traceqr.models import Batch, Business, Product
from traceqr.services import catalog, jobs, stamps
from traceqr.services.issuance import QuotaExceeded
from traceqr.services.sheets import SheetTooLarge, check_sync_sheet, sheet_stamps, write_batch_sheet
from traceqr.web.context import db_session, now, state
from traceqr.web.downloads import (
    csv_response,
    file_response,
    fixed_csv_fields,
    safe_filename,
    saved_file_response,
)
from traceqr.web.i18n import gettext as _
from traceqr.web.portal import blueprint
from traceqr.web.portal.catalog_views import readiness_of
from traceqr.web.portal.forms import ConfirmForm, IssueForm, RecallForm, RevokeForm, SheetForm
from traceqr.web.portal.support import (
    USER_ERRORS,
    business_id,
    business_login_required,
    me,
    show_error,
)

PAPERS = ("A4", "A5", "letter")


def batch_page(
    batch_id: int,
    issue_form: IssueForm | None = None,
    revoke_form: RevokeForm | None = None,
    recall_form: RecallForm | None = None,
) -> str:
    state().jobs.fail_orphans(business_id())  # its recent jobs: a dead one shows as failed
    batch, product, missing, ready = readiness_of(batch_id)
    if issue_form is None:
        issue_form = IssueForm(formdata=None, active=not batch.requires_activation)
    return render_template(
        "portal/batch.html",
        batch=batch,
        product=product,
        missing=missing,
        ready=ready,
        issue_form=issue_form,
        revoke_form=revoke_form or RevokeForm(formdata=None),
        recall_form=recall_form or RecallForm(formdata=None),
        confirm=ConfirmForm(),
        jobs=jobs.recent_jobs(db_session(), business_id()),
    )


@blueprint.get("/batches/<id:batch_id>")
@business_login_required
def batch(batch_id: int) -> str:
    return batch_page(batch_id)


@blueprint.post("/batches/<id:batch_id>/issue")
@business_login_required
def issue(batch_id: int) -> Response | str | tuple[str, int, dict[str, str]]:
    form = IssueForm()
    session = db_session()
    item = catalog.get_batch(session, business_id(), batch_id)
    if not form.validate_on_submit():
        return batch_page(batch_id, issue_form=form)
    if item.recalled_at is not None:
        show_error(
            form, TraceQRError(N_("batch %(id)s is recalled: it gets no new stamps"), id=item.id)
        )
        return batch_page(batch_id, issue_form=form)
    state().jobs.fail_orphans(business_id())  # a dead process's job holds no place
    try:
        job = jobs.create_issue_job(
            session,
            business_id=business_id(),
            user_id=me().id,
            batch_id=batch_id,
            count=form.count.data or 0,
            active=bool(form.active.data),
            now=now(),
            quotas=jobs.Quotas.of(state().settings),
        )
    except QuotaExceeded as error:
        session.rollback()
        show_error(form, error)
        return batch_page(batch_id, issue_form=form), 429, {"Retry-After": str(error.retry_after)}
    session.commit()
    state().jobs.start(job.id)
    return redirect(url_for("portal.job", job_id=job.id))


def job_view(job_id: int) -> dict[str, Any]:
    state().jobs.fail_orphans(business_id())  # a job whose process died shows as failed
    job = jobs.get_job(db_session(), business_id(), job_id)
    done, total = state().jobs.progress(job)
    params = json.loads(job.params)
    sheet_ready = jobs.finished_sheet(job, state().settings.instance_path) is not None
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "download_url": url_for("portal.job_sheet_pdf", job_id=job.id) if sheet_ready else None,
        "done": done,
        "total": total,
        "percent": int(100 * done / total) if total else 0,
        "batch_id": params.get("batch_id"),
        "result": json.loads(job.result) if job.result else None,
        "error": job.error,
        "created_at": iso_vietnam(job.created_at),
    }


@blueprint.get("/jobs/<id:job_id>")
@business_login_required
def job(job_id: int) -> str:
    return render_template("portal/job.html", job=job_view(job_id))


@blueprint.get("/jobs/<id:job_id>.json")
@business_login_required
def job_json(job_id: int) -> dict[str, Any]:
    return job_view(job_id)


@blueprint.post("/batches/<id:batch_id>/activate")
@business_login_required
def activate(batch_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        changed = stamps.activate_batch(db_session(), business_id(), batch_id, now())
        db_session().commit()
        flash(_("%(count)s stamps activated.", count=changed), "success")
    return redirect(url_for("portal.batch", batch_id=batch_id))


@blueprint.post("/batches/<id:batch_id>/revoke")
@business_login_required
def revoke(batch_id: int) -> Response | str:
    form = RevokeForm()
    session = db_session()
    item = catalog.get_batch(session, business_id(), batch_id)
    if not form.validate_on_submit():
        return batch_page(batch_id, revoke_form=form)
    try:
        if form.code.data and form.code.data.strip():
            try:
                stamp = stamps.get_stamp(session, business_id(), form.code.data)
            except NotFound:
                stamp = None
            if stamp is None or stamp.batch_id != item.id:
                raise ValidationError(N_("no stamp of this batch has this code"), field="code")
            stamps.revoke_stamp(session, business_id(), form.code.data, form.reason.data, now())
            changed = 1
        elif form.first_seq.data and form.last_seq.data:
            changed = stamps.revoke_range(
                session,
                business_id(),
                batch_id,
                form.first_seq.data,
                form.last_seq.data,
                form.reason.data,
                now(),
            )
        else:
            raise ValidationError(
                N_("give a stamp's code, or the first and last numbers of a range"), field="code"
            )
        session.commit()
    except USER_ERRORS as error:
        session.rollback()
        show_error(form, error, {"serial": "code"})
        return batch_page(batch_id, revoke_form=form)
    flash(_("%(count)s stamps revoked.", count=changed), "success")
    return redirect(url_for("portal.batch", batch_id=batch_id))


@blueprint.post("/batches/<id:batch_id>/recall")
@business_login_required
def recall(batch_id: int) -> Response | str:
    form = RecallForm()
    if not form.validate_on_submit():
        return batch_page(batch_id, recall_form=form)
    try:
        stamps.recall_batch(db_session(), business_id(), batch_id, form.reason.data, now())
        db_session().commit()
    except USER_ERRORS as error:
        db_session().rollback()
        show_error(form, error)
        return batch_page(batch_id, recall_form=form)
    flash(_("The batch is recalled. Shoppers who scan its stamps now see the reason."), "success")
    return redirect(url_for("portal.batch", batch_id=batch_id))


@blueprint.get("/batches/<id:batch_id>/stamps")
@business_login_required
def batch_stamps(batch_id: int) -> str:
    item = catalog.get_batch(db_session(), business_id(), batch_id)
    after = request.args.get("after", "0")
    after_seq = int(after) if after.isdigit() and len(after) < 10 else 0
    rows = stamps.list_stamps(db_session(), item, after_seq, limit=50)
    return render_template(
        "portal/stamps.html",
        batch=item,
        rows=rows,
        after_seq=after_seq,
        next_after=rows[-1].seq if len(rows) == 50 else None,
    )


# --- printing ------------------------------------------------------------------------------


def _number(value: Decimal | float | None, default: float) -> float:
    return float(value) if value is not None else default


def layout_from(form: SheetForm) -> SheetLayout:
    """The sheet layout a valid designer form describes (SheetLayoutError otherwise)."""
    stamp_mm = _number(form.stamp_mm.data, 25)
    margin_mm = form.margin_mm.data
    gap_mm = _number(form.gap_mm.data, 2)
    common: dict[str, Any] = {
        "stamp_mm": stamp_mm,
        "ecc": form.ecc.data or "Q",
        "gap_mm": gap_mm,
        "cut_marks": bool(form.cut_marks.data),
    }
    side = form.side.data or "none"
    if side != "none":
        common["side"] = side
    if form.page.data == "roll":
        # Label rolls want thin margins: 2 mm unless asked, 8 mm on paper.
        return SheetLayout.roll(
            _number(form.roll_width_mm.data, 60),
            labels_across=form.labels_across.data or 1,
            margin_mm=_number(margin_mm, 2.0),
            **common,
        )
    paper = form.page.data if form.page.data in PAPERS else "A4"
    return SheetLayout.paper(paper, margin_mm=_number(margin_mm, 8.0), **common)


def _sheet_inputs(batch_id: int) -> tuple[Batch, Product, Business, SheetForm, SheetLayout | None]:
    session = db_session()
    item = catalog.get_batch(session, business_id(), batch_id)
    product = catalog.get_product(session, business_id(), item.product_id)
    business = session.get(Business, business_id())
    assert business is not None
    form = SheetForm(request.args)
    layout = None
    if form.validate():
        try:
            layout = replace(layout_from(form), pin_spot=item.with_pin)
            first = next(_sheet_stamps(item, 1), None)
            if first is not None:
                if not request.args.get("stamp_mm"):
                    layout = fit_stamp_size(layout, first.url)
                    form.stamp_mm.data = Decimal(str(layout.stamp_mm))
                check_stamp_fits(first.url, layout)
            if form.side.data == "text":
                side_text_block(form.side_text.data or "", layout)
        except SheetLayoutError as error:
            form.stamp_mm.errors = [str(error)]
            layout = None
        if layout is not None and form.side.data == "logo" and not business.logo:
            form.side.errors = [_("Add a logo to the business profile first.")]
            layout = None
    return item, product, business, form, layout


def _side_args(form: SheetForm, business: Business) -> dict[str, Any]:
    if form.side.data == "text":
        return {"side_text": form.side_text.data or ""}
    if form.side.data == "logo" and business.logo:
        path = state().settings.uploads_path / business.logo
        return {"logo": path.read_bytes()}
    return {}


def _sheet_stamps(item: Batch, limit: int | None = None) -> Iterator[SheetStamp]:
    """The batch's stamps for a sheet, with their PINs when the batch prints them."""
    return sheet_stamps(db_session(), item, state().settings.public_url, state().pins, limit=limit)


@blueprint.get("/batches/<id:batch_id>/sheet")
@business_login_required
def sheet_designer(batch_id: int) -> str:
    item, product, business, form, layout = _sheet_inputs(batch_id)
    query = request.query_string.decode("ascii", "replace")
    return render_template(
        "portal/sheet.html",
        batch=item,
        product=product,
        business=business,
        form=form,
        layout=layout,
        query=query,
        confirm=ConfirmForm(),
        too_large_to_wait=_too_large_to_wait(item),
    )


def _too_large_to_wait(item: Batch) -> bool:
    """Whether the batch's sheet is only made in the background (see check_sync_sheet)."""
    try:
        check_sync_sheet(item, state().settings.sync_sheet_max_stamps)
    except SheetTooLarge:
        return True
    return False


@blueprint.get("/batches/<id:batch_id>/sheet/preview.png")
@business_login_required
def sheet_preview(batch_id: int) -> Response:
    from traceqr.domain.sheet import render_preview_png

    item, _product, business, form, layout = _sheet_inputs(batch_id)
    if layout is None or item.stamps_total == 0:
        abort(404)
    try:
        png = render_preview_png(
            _sheet_stamps(item, layout.per_page),
            layout,
            footer=f"TraceQR - lot {item.lot}",
            **_side_args(form, business),
        )
    except SheetLayoutError:
        abort(404)
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


@blueprint.get("/batches/<id:batch_id>/sheet.pdf")
@business_login_required
def sheet_pdf(batch_id: int) -> Response | str | tuple[str, int]:
    """The sheet, written while the user waits; a batch too large for that gets the
    designer back (413) with the background job to start instead."""
    item = catalog.get_batch(db_session(), business_id(), batch_id)
    if _too_large_to_wait(item):
        flash(
            _(
                "This batch has %(count)s stamps: a sheet of more than %(max)s stamps is "
                "too large to make while you wait. Choose “Prepare the PDF in the "
                "background” and download it from the job's page when it is ready.",
                count=item.stamps_total,
                max=state().settings.sync_sheet_max_stamps,
            ),
            "error",
        )
        return sheet_designer(batch_id), 413
    item, product, business, form, layout = _sheet_inputs(batch_id)
    if layout is None:
        return sheet_designer(batch_id)
    if item.stamps_total == 0:
        flash(_("This batch has no stamps yet: issue some first."), "error")
        return redirect(url_for("portal.batch", batch_id=batch_id))
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by file_response
    try:
        write_batch_sheet(
            db_session(),
            item,
            state().settings.public_url,
            state().pins,
            spool,
            layout,
            **_side_args(form, business),
        )
    except SheetLayoutError as error:
        spool.close()
        form.stamp_mm.errors = [str(error)]
        return render_template(
            "portal/sheet.html",
            batch=item,
            product=product,
            business=business,
            form=form,
            layout=None,
            query="",
            confirm=ConfirmForm(),
        )
    return file_response(
        spool, "application/pdf", f"sheet-batch{item.id}-{safe_filename(item.lot)}.pdf"
    )


@blueprint.post("/batches/<id:batch_id>/sheet-job")
@business_login_required
def sheet_job(batch_id: int) -> Response | str | tuple[str, int, dict[str, str]]:
    """The sheet designer's layout (in the query), written by a background job: for
    batches whose PDF takes too long to wait for."""
    item, _product, _business, form, layout = _sheet_inputs(batch_id)
    if layout is None or not ConfirmForm().validate_on_submit():
        return sheet_designer(batch_id)
    if item.stamps_total == 0:
        flash(_("This batch has no stamps yet: issue some first."), "error")
        return redirect(url_for("portal.batch", batch_id=batch_id))
    session = db_session()
    jobs.remove_old_sheets(session, state().settings.instance_path, now())
    state().jobs.fail_orphans(business_id())  # a dead process's job holds no place
    try:
        job = jobs.create_sheet_job(
            session,
            business_id=business_id(),
            user_id=me().id,
            batch=item,
            layout=layout,
            side_text=(form.side_text.data or "") if form.side.data == "text" else None,
            with_logo=form.side.data == "logo",
            now=now(),
            quotas=jobs.Quotas.of(state().settings),
        )
    except QuotaExceeded as error:
        session.rollback()
        show_error(None, error)
        return sheet_designer(batch_id), 429, {"Retry-After": str(error.retry_after)}
    session.commit()
    state().jobs.start(job.id)
    return redirect(url_for("portal.job", job_id=job.id))


@blueprint.get("/jobs/<id:job_id>/sheet.pdf")
@business_login_required
def job_sheet_pdf(job_id: int) -> Response:
    job = jobs.get_job(db_session(), business_id(), job_id)
    path = jobs.finished_sheet(job, state().settings.instance_path)
    if path is None:
        abort(404)
    batch_id = json.loads(job.params)["batch_id"]
    return saved_file_response(path, "application/pdf", f"sheet-batch{batch_id}-job{job.id}.pdf")


@blueprint.get("/batches/<id:batch_id>/stamps.csv")
@business_login_required
def stamps_csv(batch_id: int) -> Response:
    session = db_session()
    item = catalog.get_batch(session, business_id(), batch_id)
    product = catalog.get_product(session, business_id(), item.product_id)
    return csv_response(state(), item, product)


@blueprint.get("/batches/<id:batch_id>/print-pack.zip")
@business_login_required
def print_pack(batch_id: int) -> Response:
    from traceqr.domain.print_pack import write_print_pack

    session = db_session()
    item = catalog.get_batch(session, business_id(), batch_id)
    product = catalog.get_product(session, business_id(), item.product_id)
    if item.stamps_total == 0:
        flash(_("This batch has no stamps yet: issue some first."), "error")
        return redirect(url_for("portal.batch", batch_id=batch_id))
    layout = SheetLayout()
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by file_response
    write_print_pack(
        spool,
        stamps.iter_batch_stamps(session, item, state().settings.public_url, pins=state().pins),
        fixed_csv_fields(item, product),
        {
            "batch_id": item.id,
            "lot": item.lot,
            "product": product.name,
            "gtin": product.gtin,
            "business": session.get(Business, item.business_id).name,  # type: ignore[union-attr]
            "public_url": state().settings.public_url,
            "generated_at": iso_vietnam(now()),
        },
        ecc=layout.ecc,
        module_mm=0.5,
        with_pin=item.with_pin,
    )
    return file_response(
        spool, "application/zip", f"print-pack-batch{item.id}-{safe_filename(item.lot)}.zip"
    )
