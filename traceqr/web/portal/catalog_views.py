"""Products (with photos and certificates) and their batches."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from traceqr.domain.dates import format_vn_date, parse_typed_date
from traceqr.domain.readiness import is_ready, missing_items
from traceqr.errors import N_, ValidationError
from traceqr.services import catalog
from traceqr.services.uploads import store_image
from traceqr.web.context import db_session, now, state
from traceqr.web.i18n import gettext as _
from traceqr.web.portal import blueprint
from traceqr.web.portal.forms import (
    BatchForm,
    CertificationForm,
    ConfirmForm,
    ImageForm,
    ProductForm,
)
from traceqr.web.portal.support import (
    USER_ERRORS,
    blank_to_none,
    business_id,
    business_login_required,
    page_number,
    show_error,
)

PRODUCT_FIELDS = ("name", "gtin", "brand", "category", "origin", "standards", "description")


def typed_date(value: str | None, field: str, *, month_only_allowed: bool = False) -> str | None:
    """A date typed as dd/mm/yyyy (or mm/yyyy) → the ISO text the services take."""
    if not value or not value.strip():
        return None
    try:
        return parse_typed_date(value, month_only_allowed=month_only_allowed).isoformat()
    except ValueError:
        template = (
            N_("write the date as dd/mm/yyyy, or mm/yyyy for the end of a month")
            if month_only_allowed
            else N_("write the date as dd/mm/yyyy")
        )
        raise ValidationError(template, field=field) from None


# --- products ------------------------------------------------------------------------------


@blueprint.get("/products")
@business_login_required
def products() -> str:
    search = request.args.get("q", "")[:100]
    listing = catalog.list_products(db_session(), business_id(), page_number(), search=search)
    return render_template("portal/products.html", listing=listing, search=search)


@blueprint.route("/products/new", methods=["GET", "POST"])
@business_login_required
def new_product() -> Response | str:
    form = ProductForm()
    if form.validate_on_submit():
        try:
            product = catalog.create_product(
                db_session(),
                business_id(),
                {f: blank_to_none(form[f].data) for f in PRODUCT_FIELDS},
                now(),
            )
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
        else:
            flash(_("The product is saved. Add photos and certificates below."), "success")
            return redirect(url_for("portal.product", product_id=product.id))
    return render_template("portal/product_form.html", form=form, product=None)


@blueprint.route("/products/<id:product_id>/edit", methods=["GET", "POST"])
@business_login_required
def edit_product(product_id: int) -> Response | str:
    product = catalog.get_product(db_session(), business_id(), product_id)
    form = ProductForm(obj=product)
    if form.validate_on_submit():
        try:
            catalog.update_product(
                db_session(),
                business_id(),
                product_id,
                {f: blank_to_none(form[f].data) for f in PRODUCT_FIELDS},
                now(),
            )
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
        else:
            flash(_("The product is saved."), "success")
            return redirect(url_for("portal.product", product_id=product_id))
    return render_template("portal/product_form.html", form=form, product=product)


@blueprint.get("/products/<id:product_id>")
@business_login_required
def product(
    product_id: int, image_form: ImageForm | None = None, cert_form: CertificationForm | None = None
) -> str:
    session = db_session()
    item = catalog.get_product(session, business_id(), product_id)
    facts = catalog.readiness(session, item)
    return render_template(
        "portal/product.html",
        product=item,
        images=catalog.product_images(session, item.id),
        certifications=catalog.certifications(session, item.id),
        batches=catalog.list_batches(session, business_id(), page_number(), product_id=item.id),
        missing=missing_items(facts),
        image_form=image_form or ImageForm(),
        cert_form=cert_form or CertificationForm(),
        confirm=ConfirmForm(),
        today=now().date(),
    )


@blueprint.post("/products/<id:product_id>/images")
@business_login_required
def add_image(product_id: int) -> Response | str:
    form = ImageForm()
    catalog.get_product(db_session(), business_id(), product_id)
    if form.validate_on_submit():
        upload = request.files.get("image")
        data = upload.read(state().settings.max_upload_bytes + 1) if upload else b""
        try:
            stored = store_image(
                data,
                state().settings.uploads_path,
                field="image",
                max_bytes=state().settings.max_upload_bytes,
            )
            catalog.add_product_image(db_session(), business_id(), product_id, stored, now())
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
            return product(product_id, image_form=form)
        flash(_("The photo is added."), "success")
    return redirect(url_for("portal.product", product_id=product_id))


@blueprint.post("/products/<id:product_id>/images/<id:image_id>/remove")
@business_login_required
def remove_image(product_id: int, image_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        catalog.remove_product_image(db_session(), business_id(), product_id, image_id)
        db_session().commit()
        flash(_("The photo is removed."), "success")
    return redirect(url_for("portal.product", product_id=product_id))


@blueprint.post("/products/<id:product_id>/certifications")
@business_login_required
def add_certification(product_id: int) -> Response | str:
    form = CertificationForm()
    catalog.get_product(db_session(), business_id(), product_id)
    if form.validate_on_submit():
        try:
            data: dict[str, Any] = {
                "kind": form.kind.data,
                "number": form.number.data,
                "issuer": form.issuer.data,
                "grade": form.grade.data,
                "valid_from": typed_date(form.valid_from.data, "valid_from"),
                "valid_until": typed_date(
                    form.valid_until.data, "valid_until", month_only_allowed=True
                ),
            }
            catalog.add_certification(db_session(), business_id(), product_id, data, now())
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
            return product(product_id, cert_form=form)
        flash(_("The certificate is added."), "success")
        return redirect(url_for("portal.product", product_id=product_id))
    return product(product_id, cert_form=form)


@blueprint.post("/products/<id:product_id>/certifications/<id:certification_id>/remove")
@business_login_required
def remove_certification(product_id: int, certification_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        catalog.remove_certification(db_session(), business_id(), product_id, certification_id)
        db_session().commit()
        flash(_("The certificate is removed."), "success")
    return redirect(url_for("portal.product", product_id=product_id))


# --- batches -------------------------------------------------------------------------------


def batch_data(form: BatchForm) -> dict[str, Any]:
    return {
        "lot": (form.lot.data or "").strip(),
        "production_date": typed_date(form.production_date.data, "production_date"),
        "expiry_date": typed_date(form.expiry_date.data, "expiry_date", month_only_allowed=True),
        "quantity": form.quantity.data,
        "facility": blank_to_none(form.facility.data),
        "notes": blank_to_none(form.notes.data),
        "requires_activation": bool(form.requires_activation.data),
        "with_pin": bool(form.with_pin.data),
        "stamp_format": form.stamp_format.data or "1",
    }


@blueprint.get("/batches")
@business_login_required
def batches() -> str:
    listing = catalog.list_batches(db_session(), business_id(), page_number())
    return render_template("portal/batches.html", listing=listing)


@blueprint.route("/products/<id:product_id>/batches/new", methods=["GET", "POST"])
@business_login_required
def new_batch(product_id: int) -> Response | str:
    item = catalog.get_product(db_session(), business_id(), product_id)
    form = BatchForm()
    if form.validate_on_submit():
        try:
            batch = catalog.create_batch(
                db_session(), business_id(), product_id, batch_data(form), now()
            )
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
        else:
            flash(_("The batch is saved. Issue its stamps below."), "success")
            return redirect(url_for("portal.batch", batch_id=batch.id))
    return render_template("portal/batch_form.html", form=form, product=item, batch=None)


@blueprint.route("/batches/<id:batch_id>/edit", methods=["GET", "POST"])
@business_login_required
def edit_batch(batch_id: int) -> Response | str:
    session = db_session()
    batch = catalog.get_batch(session, business_id(), batch_id)
    item = catalog.get_product(session, business_id(), batch.product_id)
    form = BatchForm(
        data=None
        if request.method == "POST"
        else {
            "lot": batch.lot,
            "production_date": format_vn_date(batch.production_date),
            "expiry_date": format_vn_date(batch.expiry_date),
            "quantity": batch.quantity,
            "facility": batch.facility,
            "notes": batch.notes,
            "requires_activation": batch.requires_activation,
            "with_pin": batch.with_pin,
            "stamp_format": str(batch.stamp_format),
        }
    )
    if form.validate_on_submit():
        try:
            catalog.update_batch(session, business_id(), batch_id, batch_data(form))
            session.commit()
        except USER_ERRORS as error:
            session.rollback()
            show_error(form, error)
        else:
            flash(_("The batch is saved."), "success")
            return redirect(url_for("portal.batch", batch_id=batch_id))
    return render_template("portal/batch_form.html", form=form, product=item, batch=batch)


def readiness_of(batch_id: int) -> tuple[Any, Any, list[Any], bool]:
    session = db_session()
    batch = catalog.get_batch(session, business_id(), batch_id)
    item = catalog.get_product(session, business_id(), batch.product_id)
    facts = catalog.readiness(session, item, batch)
    return batch, item, missing_items(facts), is_ready(facts)
