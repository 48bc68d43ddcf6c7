"""Inspector pages: sign-in, look-up (camera, photo, typed code), dossier, flags, cases."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf.file import FileField
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from traceqr.domain.qr import decode_qr_texts
from traceqr.errors import Conflict, ValidationError
from traceqr.models import Case, Stamp
from traceqr.services import inspection
from traceqr.services.authority import Scope
from traceqr.services.case_pdf import case_file_pdf
from traceqr.services.officials import authenticate_official, sign_out
from traceqr.services.uploads import private_folder, store_image, stored_private_upload
from traceqr.web.context import db_session, now, state
from traceqr.web.downloads import file_bytes_response
from traceqr.web.i18n import gettext as _
from traceqr.web.i18n import lazy_gettext as _l
from traceqr.web.inspector import blueprint, inspector_required, me
from traceqr.web.portal.auth_views import safe_next
from traceqr.web.portal.forms import REQUIRED, ConfirmForm, FlaskForm
from traceqr.web.portal.support import OfficialUser, show_error
from traceqr.web.ratelimit import limited
from traceqr.web.security import private_file

USER_ERRORS = (ValidationError, Conflict)


class LoginForm(FlaskForm):
    email = StringField(_l("E-mail"), [DataRequired(REQUIRED), Length(max=254)])
    password = PasswordField(_l("Password"), [DataRequired(REQUIRED), Length(max=200)])


class PhotoForm(FlaskForm):
    photo = FileField(_l("Photo of one or more stamps"))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), [DataRequired(REQUIRED), Length(max=500)])


class CaseForm(FlaskForm):
    title = StringField(_l("Title of the case"), [DataRequired(REQUIRED), Length(max=200)])


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Note"), [Optional(), Length(max=5000)])
    photo = FileField(_l("Photo"))


class AddStampForm(FlaskForm):
    code = StringField(_l("Stamp URL or code"), [DataRequired(REQUIRED), Length(max=300)])


class CloseForm(FlaskForm):
    outcome = TextAreaField(_l("Outcome"), [Optional(), Length(max=5000)])


# --- signing in ------------------------------------------------------------------------------


@blueprint.route("/login", methods=["GET", "POST"])
@limited("login")
def login() -> Response | str:
    form = LoginForm()
    if form.validate_on_submit():
        official = authenticate_official(
            db_session(), form.email.data or "", form.password.data or "", now()
        )
        if official is None or official.role != "inspector":
            form.password.errors = [_("The e-mail or the password is not right.")]
        else:
            db_session().commit()
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            session.permanent = True
            login_user(OfficialUser(official))
            return redirect(safe_next(request.args.get("next"), "/inspect", "inspector.home"))
    return render_template("inspector/login.html", form=form)


@blueprint.post("/logout")
def logout() -> Response:
    signed_in = current_user._get_current_object()
    if isinstance(signed_in, OfficialUser):
        sign_out(signed_in.official)  # every copy of the cookie ends, not only this one
        db_session().commit()
    logout_user()
    session.clear()
    return redirect(url_for("inspector.login"))


# --- looking stamps up -----------------------------------------------------------------------


@blueprint.get("/")
@inspector_required
def home() -> str:
    return render_template(
        "inspector/home.html",
        photo_form=PhotoForm(),
        reports=inspection.recent_reports(db_session(), _scope(), limit=10),
        open_cases=_open_cases(),
    )


def _scope() -> Scope:
    """The signed-in inspector's provinces (none: the whole country)."""
    return Scope.of(me())


def _open_cases() -> list[Case]:
    return inspection.list_cases(db_session(), _scope(), open_only=True)


@blueprint.get("/stamp")
@inspector_required
def dossier() -> Response | str:
    code = request.args.get("code", "").strip()
    if not code:
        return redirect(url_for("inspector.home"))
    result = inspection.stamp_dossier(db_session(), state().verifier, code[:2048], now(), _scope())
    return render_template(
        "inspector/dossier.html",
        d=result,
        code=code,
        flag_form=ReasonForm(),
        confirm=ConfirmForm(),
        open_cases=_open_cases(),
    )


@blueprint.post("/photo")
@inspector_required
def photo() -> Response | str:
    """A photo of stamps (a shelf, a box): every QR in it, decoded on the server."""
    form = PhotoForm()
    if not form.validate_on_submit():
        abort(400)
    upload = request.files.get("photo")
    data = upload.read(state().settings.max_upload_bytes + 1) if upload else b""
    if not data or len(data) > state().settings.max_upload_bytes:
        flash(_("Choose a photo of at most 5 MB."), "error")
        return redirect(url_for("inspector.home"))
    try:
        texts = decode_qr_texts(data)
    except (OSError, ValueError):
        flash(_("The file is not an image TraceQR can read."), "error")
        return redirect(url_for("inspector.home"))
    results = [(text, state().verifier.inspect(text, now=now())) for text in texts]
    return render_template("inspector/photo.html", results=results)


# --- flags -----------------------------------------------------------------------------------


@blueprint.post("/stamps/<bigid:stamp_id>/flag")
@inspector_required
def flag_stamp(stamp_id: int) -> Response:
    form = ReasonForm()
    code = request.form.get("code", "")
    if form.validate_on_submit():
        inspection.flag_stamp(db_session(), me(), stamp_id, form.reason.data, now())
        db_session().commit()
        flash(_("The stamp is flagged: shoppers now see a warning."), "success")
    else:
        flash(_("Give a reason for the flag."), "error")
    return redirect(url_for("inspector.dossier", code=code))


@blueprint.post("/batches/<id:batch_id>/flag")
@inspector_required
def flag_batch(batch_id: int) -> Response:
    form = ReasonForm()
    code = request.form.get("code", "")
    if form.validate_on_submit():
        inspection.flag_batch(db_session(), me(), batch_id, form.reason.data, now())
        db_session().commit()
        flash(_("The batch is flagged: every stamp of it now shows a warning."), "success")
    else:
        flash(_("Give a reason for the flag."), "error")
    return redirect(url_for("inspector.dossier", code=code))


@blueprint.post("/flags/<id:flag_id>/lift")
@inspector_required
def lift_flag(flag_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        inspection.lift_flag(db_session(), me(), flag_id, now())
        db_session().commit()
        flash(_("The flag is lifted."), "success")
    return redirect(url_for("inspector.dossier", code=request.form.get("code", "")))


# --- reports ---------------------------------------------------------------------------------


@blueprint.get("/reports")
@inspector_required
def reports() -> str:
    return render_template(
        "inspector/reports.html",
        reports=inspection.recent_reports(db_session(), _scope()),
        open_cases=_open_cases(),
        confirm=ConfirmForm(),
    )


# --- cases -----------------------------------------------------------------------------------


@blueprint.route("/cases", methods=["GET", "POST"])
@inspector_required
def cases() -> Response | str:
    form = CaseForm()
    if form.validate_on_submit():
        case = inspection.open_case(db_session(), me(), form.title.data, now())
        db_session().commit()
        return redirect(url_for("inspector.case", case_id=case.id))
    rows = inspection.list_cases(db_session(), _scope())
    return render_template("inspector/cases.html", form=form, cases=rows)


def _case_page(case_id: int, **forms: Any) -> str:
    session_ = db_session()
    case = inspection.get_case(session_, case_id, _scope())
    items = inspection.case_items(session_, case)
    stamps = {i.stamp_id: session_.get(Stamp, i.stamp_id) for i in items if i.stamp_id}
    return render_template(
        "inspector/case.html",
        case=case,
        contents=inspection.case_contents(session_, case),
        items=items,
        stamps=stamps,
        notes=inspection.case_notes(session_, case),
        note_form=forms.get("note_form") or NoteForm(formdata=None),
        add_form=forms.get("add_form") or AddStampForm(formdata=None),
        close_form=forms.get("close_form") or CloseForm(formdata=None),
        confirm=ConfirmForm(),
    )


@blueprint.get("/cases/<id:case_id>")
@inspector_required
def case(case_id: int) -> str:
    return _case_page(case_id)


@blueprint.post("/cases/<id:case_id>/stamps")
@inspector_required
def case_add_stamp(case_id: int) -> Response | str:
    form = AddStampForm()
    case_ = inspection.get_case(db_session(), case_id, _scope())
    if not form.validate_on_submit():
        return _case_page(case_id, add_form=form)
    result = state().verifier.inspect(form.code.data or "", now=now())
    if result.stamp_id is None:
        form.code.errors = [_("No registered stamp has this code.")]
        return _case_page(case_id, add_form=form)
    try:
        inspection.add_to_case(db_session(), case_, now(), stamp_id=result.stamp_id)
        db_session().commit()
    except USER_ERRORS as error:
        db_session().rollback()
        show_error(form, error, {"": "code"})
        return _case_page(case_id, add_form=form)
    return redirect(url_for("inspector.case", case_id=case_id))


@blueprint.post("/cases/<id:case_id>/batches/<id:batch_id>")
@inspector_required
def case_add_batch(case_id: int, batch_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        case_ = inspection.get_case(db_session(), case_id, _scope())
        try:
            inspection.add_to_case(db_session(), case_, now(), batch_id=batch_id)
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(None, error)
    return redirect(url_for("inspector.case", case_id=case_id))


@blueprint.post("/cases/<id:case_id>/add-stamp/<bigid:stamp_id>")
@inspector_required
def case_add_stamp_id(case_id: int, stamp_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        case_ = inspection.get_case(db_session(), case_id, _scope())
        if db_session().get(Stamp, stamp_id) is None:
            abort(404)
        try:
            inspection.add_to_case(db_session(), case_, now(), stamp_id=stamp_id)
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(None, error)
    return redirect(url_for("inspector.case", case_id=case_id))


@blueprint.post("/cases/<id:case_id>/reports/<id:report_id>")
@inspector_required
def case_add_report(case_id: int, report_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        case_ = inspection.get_case(db_session(), case_id, _scope())
        try:
            inspection.attach_report(db_session(), case_, report_id, _scope(), now())
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(None, error)
    return redirect(url_for("inspector.case", case_id=case_id))


@blueprint.post("/cases/<id:case_id>/notes")
@inspector_required
def case_note(case_id: int) -> Response | str:
    form = NoteForm()
    case_ = inspection.get_case(db_session(), case_id, _scope())
    if not form.validate_on_submit():
        return _case_page(case_id, note_form=form)
    try:
        upload = request.files.get("photo")
        photo_name = None
        if upload is not None and upload.filename:
            settings = state().settings
            photo_name = store_image(
                upload.read(settings.max_upload_bytes + 1),
                private_folder(settings.uploads_path),
                field="photo",
                max_bytes=settings.max_upload_bytes,
            ).filename
        inspection.add_note(db_session(), case_, me(), form.text.data, photo_name, now())
        db_session().commit()
    except USER_ERRORS as error:
        db_session().rollback()
        show_error(form, error)
        return _case_page(case_id, note_form=form)
    return redirect(url_for("inspector.case", case_id=case_id))


@blueprint.post("/cases/<id:case_id>/close")
@inspector_required
def case_close(case_id: int) -> Response | str:
    form = CloseForm()
    case_ = inspection.get_case(db_session(), case_id, _scope())
    if form.validate_on_submit():
        try:
            inspection.close_case(db_session(), case_, form.outcome.data, now())
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(None, error)
    return redirect(url_for("inspector.case", case_id=case_id))


def _signed(case_id: int) -> dict[str, Any]:
    case_ = inspection.get_case(db_session(), case_id, _scope())
    document = inspection.signed_case_file(db_session(), state().keystore, case_, now())
    db_session().commit()  # the service key, the first time
    return document


@blueprint.get("/cases/<id:case_id>/case-file.json")
@inspector_required
def case_file_json(case_id: int) -> Response:
    body = json.dumps(_signed(case_id), ensure_ascii=False, indent=2).encode("utf-8")
    response = file_bytes_response(body, "application/json", f"case-{case_id}.json")
    response.headers["X-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    return response


@blueprint.get("/cases/<id:case_id>/case-file.pdf")
@inspector_required
def case_file_pdf_view(case_id: int) -> Response:
    labels = {
        "case": _("Case"),
        "status": _("Status"),
        "opened": _("Opened"),
        "closed": _("Closed"),
        "outcome": _("Outcome"),
        "stamps": _("Stamps"),
        "lot": _("Lot number"),
        "checks": _("Checks"),
        "flag": _("Flag"),
        "when": _("When"),
        "verdict": _("Verdict"),
        "province": _("Province"),
        "device": _("Device"),
        "batches": _("Batches"),
        "product": _("Product"),
        "business": _("Business"),
        "reports": _("Reports from shoppers"),
        "notes": _("Notes"),
        "integrity": _("Integrity"),
        "integrity_text": _(
            "The signed case file (case-file.json) is attached to this PDF. Check it with "
            "`traceqr verify-document case-file.json --keys jwks.json`, using the public keys "
            "published at /.well-known/jwks.json."
        ),
    }
    pdf = case_file_pdf(_signed(case_id), state().settings.uploads_path, labels)
    return file_bytes_response(pdf, "application/pdf", f"case-{case_id}.pdf")


# --- private photos ----------------------------------------------------------------------------


@blueprint.get("/reports/<id:report_id>/photo")
@inspector_required
def report_photo(report_id: int) -> Response:
    """A shopper's photo, for the inspectors whose provinces the report (or its case) is in."""
    report = inspection.get_report(db_session(), report_id, _scope(), via_cases=True)
    path = stored_private_upload(state().settings.uploads_path, report.photo)
    if path is None:
        abort(404)
    return private_file(path)


@blueprint.get("/cases/<id:case_id>/notes/<id:note_id>/photo")
@inspector_required
def case_note_photo(case_id: int, note_id: int) -> Response:
    case_ = inspection.get_case(db_session(), case_id, _scope())
    note = inspection.get_note(db_session(), case_, note_id)
    path = stored_private_upload(state().settings.uploads_path, note.photo)
    if path is None:
        abort(404)
    return private_file(path)
