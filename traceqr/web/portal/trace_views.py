"""Supply chain in the portal: facilities, a batch's journey (record, import, export),
shipments to and from partner businesses."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from wtforms.fields.choices import SelectChoice

from traceqr.errors import N_, ValidationError
from traceqr.services import traceability
from traceqr.web.context import db_session, now, state
from traceqr.web.downloads import safe_filename
from traceqr.web.i18n import gettext as _
from traceqr.web.portal import blueprint
from traceqr.web.portal.forms import (
    ConfirmForm,
    EventForm,
    FacilityForm,
    ImportForm,
    ReceiveForm,
    ShipForm,
)
from traceqr.web.portal.support import (
    USER_ERRORS,
    business_id,
    business_login_required,
    show_error,
    translated,
)
from traceqr.web.wording import BIZ_STEPS, UNITS

MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _caps() -> dict[str, int]:
    """The ceilings on a batch's events and an event's inputs (issue 16)."""
    settings = state().settings
    return {
        "max_events": settings.max_events_per_batch,
        "max_inputs": settings.max_inputs_per_event,
    }


def _unit_choices() -> list[SelectChoice]:
    return [SelectChoice(code, f"{label} ({code})") for code, label in UNITS.items()]


def _with_choices(form: Any) -> Any:
    form.set_choices(traceability.facilities(db_session(), business_id()), _unit_choices())
    return form


def _event_form(*, submitted: bool = False) -> EventForm:
    form = _with_choices(EventForm() if submitted else EventForm(formdata=None))
    form.biz_step.choices = [SelectChoice(step, str(label)) for step, label in BIZ_STEPS.items()]
    form.input_batches.choices = [
        SelectChoice(str(batch.id), f"{name} · {batch.lot}")
        for batch, name in traceability.held_batches(db_session(), business_id())
    ]
    return form


def _when_where(form: Any) -> dict[str, Any]:
    quantity = form.quantity.data
    return {
        "event_time": form.event_time.data or None,
        "facility_id": int(form.facility_id.data) if form.facility_id.data else None,
        "quantity": float(quantity) if isinstance(quantity, Decimal) else None,
        "unit": form.unit.data or None,
        "note": form.note.data or None,
    }


def _uploaded_text(form: ImportForm) -> str:
    upload = request.files.get("file")
    data = upload.read(MAX_IMPORT_BYTES + 1) if upload else b""
    if not data:
        raise ValidationError(N_("choose a file"), field="file")
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError(N_("the %(kind)s is larger than 5 MB"), field="file", kind="file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            N_("the %(kind)s is not UTF-8 text"), field="file", kind="file"
        ) from exc


# --- facilities -------------------------------------------------------------------------------


@blueprint.route("/facilities", methods=["GET", "POST"])
@business_login_required
def facilities() -> Response | str:
    form = FacilityForm()
    if form.validate_on_submit():
        try:
            data = {
                name: form[name].data or None
                for name in ("name", "kind", "address", "province_code", "gln")
            }
            traceability.create_facility(db_session(), business_id(), data, now())
            db_session().commit()
            flash(_("The facility is added."), "success")
            return redirect(url_for("portal.facilities"))
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
    return render_template(
        "portal/facilities.html",
        facilities=traceability.facilities(db_session(), business_id()),
        form=form,
    )


# --- a batch's journey ------------------------------------------------------------------------


def journey_page(
    batch_id: int,
    *,
    event_form: EventForm | None = None,
    ship_form: ShipForm | None = None,
    import_form: ImportForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = db_session()
    batch = traceability.batch_for_events(session, business_id(), batch_id)
    html = render_template(
        "portal/journey.html",
        batch=batch,
        own=batch.business_id == business_id(),
        journey=traceability.journey(session, batch.id),
        event_form=event_form or _event_form(),
        ship_form=ship_form or _with_choices(ShipForm(formdata=None)),
        import_form=import_form or ImportForm(formdata=None),
        csv_columns=traceability.CSV_COLUMNS,
    )
    return html, status


@blueprint.get("/batches/<id:batch_id>/journey")
@business_login_required
def journey(batch_id: int) -> tuple[str, int]:
    return journey_page(batch_id)


@blueprint.post("/batches/<id:batch_id>/events")
@business_login_required
def add_event(batch_id: int) -> Response | tuple[str, int]:
    session = db_session()
    traceability.batch_for_events(session, business_id(), batch_id)
    form = _event_form(submitted=True)
    if not form.validate_on_submit():
        return journey_page(batch_id, event_form=form, status=400)
    data = {
        **_when_where(form),
        "biz_step": form.biz_step.data,
        "place": form.place.data or None,
        "source": form.source.data or None,
        "destination": form.destination.data or None,
        "inputs": [{"batch_id": int(i)} for i in form.input_batches.data or []]
        + traceability.parse_input_lots(form.input_lots.data or ""),
    }
    try:
        traceability.record_event(
            session, business_id(), batch_id, data, now(), origin="portal", **_caps()
        )
        session.commit()
    except USER_ERRORS as error:
        session.rollback()
        show_error(
            form,
            error,
            {error.field or "": "input_lots"} if (error.field or "").startswith("inputs") else None,
        )
        return journey_page(batch_id, event_form=form, status=400)
    flash(_("The step is recorded."), "success")
    return redirect(url_for("portal.journey", batch_id=batch_id))


@blueprint.post("/batches/<id:batch_id>/events/import")
@business_login_required
def import_events(batch_id: int) -> Response | tuple[str, int]:
    session = db_session()
    traceability.batch_for_events(session, business_id(), batch_id)
    form = ImportForm()
    if not form.validate_on_submit():
        return journey_page(batch_id, import_form=form, status=400)
    try:
        events = traceability.import_csv(
            session, business_id(), batch_id, _uploaded_text(form), now(), **_caps()
        )
        session.commit()
    except USER_ERRORS as error:
        session.rollback()
        show_error(form, error)
        return journey_page(batch_id, import_form=form, status=400)
    flash(_("%(count)s steps imported.", count=len(events)), "success")
    return redirect(url_for("portal.journey", batch_id=batch_id))


@blueprint.post("/batches/<id:batch_id>/ship")
@business_login_required
def ship(batch_id: int) -> Response | tuple[str, int]:
    session = db_session()
    traceability.batch_for_events(session, business_id(), batch_id)
    form = _with_choices(ShipForm())
    if not form.validate_on_submit():
        return journey_page(batch_id, ship_form=form, status=400)
    try:
        shipment = traceability.ship(
            session, business_id(), batch_id, form.partner.data, _when_where(form), now()
        )
        session.commit()
    except USER_ERRORS as error:
        session.rollback()
        show_error(form, error)
        return journey_page(batch_id, ship_form=form, status=400)
    receiver = traceability.shipment_json(session, shipment)["receiver"]["name"]
    flash(
        _("Sent to %(name)s: they see it in their shipments and accept it.", name=receiver),
        "success",
    )
    return redirect(url_for("portal.journey", batch_id=batch_id))


def _json_download(payload: dict[str, Any], mimetype: str, filename: str) -> Response:
    body = json.dumps(payload, ensure_ascii=False, indent=2)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@blueprint.get("/batches/<id:batch_id>/epcis.jsonld")
@business_login_required
def export_epcis(batch_id: int) -> Response:
    session = db_session()
    batch = traceability.batch_for_events(session, business_id(), batch_id)
    document = traceability.epcis_document(session, batch, state().settings.public_url, now())
    return _json_download(
        document, "application/ld+json", f"epcis-batch{batch.id}-{safe_filename(batch.lot)}.jsonld"
    )


@blueprint.get("/batches/<id:batch_id>/passport.json")
@business_login_required
def passport(batch_id: int) -> Response:
    session = db_session()
    batch = traceability.batch_for_events(session, business_id(), batch_id)
    document = traceability.passport(session, batch, state().settings.public_url, now())
    return _json_download(
        document, "application/json", f"passport-batch{batch.id}-{safe_filename(batch.lot)}.json"
    )


# --- shipments and EPCIS import ------------------------------------------------------------


def shipments_page(*, import_form: ImportForm | None = None, status: int = 200) -> tuple[str, int]:
    session = db_session()
    incoming, outgoing = traceability.shipments(session, business_id())
    html = render_template(
        "portal/shipments.html",
        incoming=[traceability.shipment_json(session, s) for s in incoming],
        outgoing=[traceability.shipment_json(session, s) for s in outgoing],
        received=traceability.received_batches(session, business_id()),
        receive_forms={
            s.id: _with_choices(ReceiveForm(formdata=None, prefix=f"s{s.id}"))
            for s in incoming
            if s.status == "sent"
        },
        confirm=ConfirmForm(),
        import_form=import_form or ImportForm(formdata=None),
    )
    return html, status


@blueprint.get("/shipments")
@business_login_required
def shipments() -> tuple[str, int]:
    return shipments_page()


@blueprint.post("/shipments/<id:shipment_id>/accept")
@business_login_required
def accept_shipment(shipment_id: int) -> Response | tuple[str, int]:
    form = _with_choices(ReceiveForm(prefix=f"s{shipment_id}"))
    if not form.validate_on_submit():
        flash(_("Check the time and quantity, then accept again."), "error")
        return redirect(url_for("portal.shipments"))
    session = db_session()
    try:
        shipment = traceability.answer_shipment(
            session, business_id(), shipment_id, True, _when_where(form), now()
        )
        session.commit()
    except USER_ERRORS as error:
        session.rollback()
        show_error(None, error)
        return redirect(url_for("portal.shipments"))
    flash(_("Accepted: the batch's journey now shows your receiving."), "success")
    return redirect(url_for("portal.journey", batch_id=shipment.batch_id))


@blueprint.post("/shipments/<id:shipment_id>/refuse")
@business_login_required
def refuse_shipment(shipment_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        session = db_session()
        try:
            traceability.answer_shipment(session, business_id(), shipment_id, False, {}, now())
            session.commit()
            flash(_("Refused."), "success")
        except USER_ERRORS as error:
            session.rollback()
            show_error(None, error)
    return redirect(url_for("portal.shipments"))


@blueprint.post("/epcis/import")
@business_login_required
def import_epcis() -> Response | tuple[str, int]:
    form = ImportForm()
    if not form.validate_on_submit():
        return shipments_page(import_form=form, status=400)
    session = db_session()
    try:
        result = traceability.import_epcis(
            session,
            business_id(),
            _uploaded_text(form),
            state().settings.public_url,
            now(),
            **_caps(),
        )
        session.commit()
    except USER_ERRORS as error:
        session.rollback()
        # The field is the JSON path of the member at fault: say it beside the message.
        where = error.field if error.field not in (None, "file") else None
        message = translated(error)
        form.file.errors = [f"{where}: {message}" if where else message]
        return shipments_page(import_form=form, status=400)
    flash(
        _(
            "%(count)s events imported (%(already)s were already here).",
            count=len(result.created),
            already=result.already_present,
        ),
        "success",
    )
    return redirect(url_for("portal.shipments"))
