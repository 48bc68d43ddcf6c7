"""The business profile, its verification (the owner asks, everyone sees the status), the
team (owner only) and keys (owner only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from traceqr.domain.verification import Policy
from traceqr.errors import N_, ValidationError
from traceqr.models import ApiKey, Business, Report, SigningKey, VerificationRequest
from traceqr.services import accounts, audit, identity
from traceqr.services.businesses import (
    apply_profile,
    create_api_key,
    get_business,
    rotate_signing_key,
)
from traceqr.services.clusters import choose_cluster, cluster_choices
from traceqr.services.key_lifecycle import recertify_business
from traceqr.services.shoppers import reports_for_business
from traceqr.services.uploads import (
    private_folder,
    store_document,
    store_image,
    stored_document,
    stored_private_upload,
)
from traceqr.web.context import db_session, now, state
from traceqr.web.i18n import gettext as _
from traceqr.web.portal import blueprint
from traceqr.web.portal.auth_views import links
from traceqr.web.portal.forms import (
    ApiKeyForm,
    ConfirmForm,
    DetectionForm,
    InviteForm,
    ProfileForm,
    RoleForm,
    VerificationForm,
)
from traceqr.web.portal.support import (
    USER_ERRORS,
    blank_to_none,
    business_id,
    business_login_required,
    me,
    owner_required,
    show_error,
)
from traceqr.web.security import private_file, public_link

PROFILE_FIELDS = (
    "name",
    "legal_name",
    "tax_code",
    "address_street",
    "address_commune",
    "province_code",
    "cluster_name",
    "phone",
    "website",
)


@blueprint.route("/profile", methods=["GET", "POST"])
@business_login_required
def profile() -> Response | str:
    business = get_business(db_session(), business_id())
    form = ProfileForm(obj=business)
    form.cluster_id.choices = cluster_choices(db_session(), business.province_code)
    frozen = identity.is_verified(business)
    if frozen:
        # A verified identity is shown as text, not offered for editing; one sent anyway is
        # checked (and refused, if it differs) by apply_profile.
        for name in identity.FROZEN_FIELDS:
            if name in form and name not in request.form:
                del form[name]
    if form.validate_on_submit():
        try:
            old_name = business.name
            apply_profile(
                business, {f: blank_to_none(form[f].data) for f in PROFILE_FIELDS if f in form}
            )
            picked = form.cluster_id.data or ""
            choose_cluster(db_session(), business, int(picked) if picked.isdigit() else None)
            if business.name != old_name:  # the key certificates name the business
                recertify_business(db_session(), state().keystore, business.id, now())
            upload = request.files.get("logo")
            if upload is not None and upload.filename:
                stored = store_image(
                    upload.read(state().settings.max_upload_bytes + 1),
                    state().settings.uploads_path,
                    field="logo",
                    max_bytes=state().settings.max_upload_bytes,
                    max_side=800,
                )
                business.logo = stored.filename
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            # A frozen field has no input on the page: say why at the top.
            show_error(None if error.field in identity.FROZEN_FIELDS and frozen else form, error)
        else:
            flash(_("The profile is saved."), "success")
            return redirect(url_for("portal.profile"))
    return render_template(
        "portal/profile.html",
        form=form,
        business=business,
        frozen=frozen,
        latest=identity.latest_request(db_session(), business.id),
    )


# --- verification: who checked that the business is who it says ---------------------------

REQUEST_FIELDS = (*identity.FROZEN_FIELDS, "gs1_prefixes")


def _verification_defaults(
    business: Business, latest: VerificationRequest | None
) -> dict[str, Any]:
    """What the form starts with: a request still open or just rejected (to correct it),
    else the profile."""
    if latest is not None and latest.status in (identity.PENDING, identity.REJECTED):
        return {name: getattr(latest, name) or "" for name in REQUEST_FIELDS}
    values = {name: getattr(business, name) or "" for name in identity.FROZEN_FIELDS}
    values["gs1_prefixes"] = ", ".join(identity.business_prefixes(db_session(), business.id))
    return values


def _stored_document(
    name: str, folder: Path, stored: list[Path], *, required: bool = False
) -> str | None:
    """Store one uploaded certificate (re-made, never as uploaded); None if none was sent."""
    upload = request.files.get(name)
    if upload is None or not upload.filename:
        if required:
            raise ValidationError(
                N_(
                    "upload the business registration certificate (Giấy chứng nhận đăng ký "
                    "doanh nghiệp)"
                ),
                field=name,
            )
        return None
    limit = state().settings.max_upload_bytes
    document = store_document(upload.read(limit + 1), folder, field=name, max_bytes=limit)
    stored.append(folder / document.filename)
    return document.filename


@blueprint.route("/verification", methods=["GET", "POST"])
@business_login_required
def verification() -> Response | str:
    """The business's verification: its status for everyone, the request form for owners."""
    session = db_session()
    business = get_business(session, business_id())
    latest = identity.latest_request(session, business.id)
    is_owner = me().role == "owner"
    if request.method == "POST" and not is_owner:
        abort(403)
    form = None
    if is_owner:
        form = VerificationForm(
            data=None if request.method == "POST" else _verification_defaults(business, latest)
        )
    if form is not None and form.validate_on_submit():
        folder = private_folder(state().settings.uploads_path)
        stored: list[Path] = []
        committed = False
        try:
            registration = _stored_document("registration_document", folder, stored, required=True)
            gs1 = _stored_document("gs1_document", folder, stored)
            assert registration is not None
            identity.submit_request(
                session,
                business.id,
                {name: form[name].data for name in REQUEST_FIELDS},
                identity.RequestDocuments(registration=registration, gs1_membership=gs1),
                user_id=me().id,
                now=now(),
            )
            session.commit()
            committed = True
        except USER_ERRORS as error:
            session.rollback()
            show_error(form, error)
        finally:
            if not committed:  # a refused request leaves no document behind
                for path in stored:
                    path.unlink(missing_ok=True)
        if committed:
            flash(
                _(
                    "Your request is sent. A reviewer of the Department of Industry and Trade "
                    "will check it; you will see the decision here."
                ),
                "success",
            )
            return redirect(url_for("portal.verification"))
    return render_template(
        "portal/verification.html",
        form=form,
        business=business,
        latest=latest,
        history=session.scalars(
            select(VerificationRequest)
            .where(VerificationRequest.business_id == business.id)
            .order_by(VerificationRequest.id.desc())
            .limit(20)
        ).all(),
        prefixes=identity.business_prefixes(session, business.id),
    )


def document_response(record: VerificationRequest, document: str) -> Response:
    """A request's certificate (``registration`` or ``gs1``), private and never cached. A
    PDF is downloaded: browsers' PDF viewers do not run under the sandbox policy every
    upload is served with."""
    name = record.registration_document if document == "registration" else record.gs1_document
    path = stored_document(state().settings.uploads_path, name)
    if path is None:
        abort(404)
    response = private_file(path)
    if path.suffix == ".pdf":
        response.headers.set(
            "Content-Disposition", "attachment", filename=f"{document}-{record.id}.pdf"
        )
    return response


@blueprint.get("/verification/<id:request_id>/<any(registration, gs1):document>")
@business_login_required
def verification_document(request_id: int, document: str) -> Response:
    """A certificate the business sent, back to its owners and staff only."""
    record = db_session().get(VerificationRequest, request_id)
    if record is None or record.business_id != business_id():
        abort(404)
    return document_response(record, document)


# --- team ----------------------------------------------------------------------------------


@blueprint.route("/team", methods=["GET", "POST"])
@business_login_required
@owner_required
def team() -> Response | str:
    form = InviteForm()
    if form.validate_on_submit():
        try:
            user = accounts.invite(
                db_session(),
                me(),
                form.email.data or "",
                form.role.data or "",
                form.name.data,
                now(),
            )
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
        else:
            link = public_link("portal.accept_invite", token=links().make(user, "invite"))
            state().mailer.send(
                user.email,
                _(
                    "TraceQR: you are invited to %(business)s",
                    business=get_business(db_session(), user.business_id).name,
                ),
                _("Open this link within 7 days to set your password and join:") + f"\n\n{link}\n",
            )
            flash(_("Invitation sent to %(email)s.", email=user.email), "success")
            return redirect(url_for("portal.team"))
    return render_template(
        "portal/team.html",
        form=form,
        members=accounts.members(db_session(), business_id()),
        role_form=RoleForm(),
        confirm=ConfirmForm(),
    )


@blueprint.post("/team/<id:user_id>/role")
@business_login_required
@owner_required
def change_role(user_id: int) -> Response:
    form = RoleForm()
    if form.validate_on_submit():
        try:
            accounts.change_role(db_session(), me(), user_id, form.role.data or "", now())
            db_session().commit()
            flash(_("The role is changed."), "success")
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(None, error)
    return redirect(url_for("portal.team"))


@blueprint.post("/team/<id:user_id>/remove")
@business_login_required
@owner_required
def remove_member(user_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        try:
            accounts.remove_member(db_session(), me(), user_id, now())
            db_session().commit()
            flash(_("The member is removed and signed out."), "success")
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(None, error)
    return redirect(url_for("portal.team"))


# --- keys ------------------------------------------------------------------------------------


def _keys_page(form: ApiKeyForm, new_key: str | None = None) -> str:
    session = db_session()
    signing_keys = session.scalars(
        select(SigningKey)
        .where(SigningKey.business_id == business_id())
        .order_by(SigningKey.id.desc())
    ).all()
    api_keys = session.scalars(
        select(ApiKey).where(ApiKey.business_id == business_id()).order_by(ApiKey.id.desc())
    ).all()
    return render_template(
        "portal/keys.html",
        form=form,
        confirm=ConfirmForm(),
        signing_keys=signing_keys,
        api_keys=api_keys,
        new_key=new_key,
    )


@blueprint.route("/keys", methods=["GET", "POST"])
@business_login_required
@owner_required
def keys() -> str:
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            _record, plaintext = create_api_key(
                db_session(), business_id(), form.name.data or "", now()
            )
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
        else:
            # Shown once, on this answer only; the database keeps a hash.
            return _keys_page(ApiKeyForm(formdata=None), new_key=plaintext)
    return _keys_page(form)


@blueprint.post("/keys/api/<id:key_id>/revoke")
@business_login_required
@owner_required
def revoke_api_key(key_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        record = db_session().get(ApiKey, key_id)
        if record is None or record.business_id != business_id():
            abort(404)
        if record.revoked_at is None:
            record.revoked_at = now()
            audit.record(
                db_session(),
                "api_key.revoke",
                f"business:{record.business_id}",
                {"api_key_id": record.id, "prefix": record.prefix},
                now=now(),
            )
            db_session().commit()
        flash(_("The API key is revoked."), "success")
    return redirect(url_for("portal.keys"))


@blueprint.post("/keys/signing/rotate")
@business_login_required
@owner_required
def rotate_key() -> Response:
    if ConfirmForm().validate_on_submit():
        new_key, _retired = rotate_signing_key(db_session(), state().keystore, business_id(), now())
        db_session().commit()
        state().verifier.forget_keys()
        flash(
            _("New signing key %(kid)s. Stamps signed before stay valid.", kid=new_key.kid.hex()),
            "success",
        )
    return redirect(url_for("portal.keys"))


# --- copy detection settings ----------------------------------------------------------------


@blueprint.route("/settings/detection", methods=["GET", "POST"])
@business_login_required
@owner_required
def detection_settings() -> Response | str:
    business = get_business(db_session(), business_id())
    defaults = Policy()
    form = DetectionForm(
        data=None
        if request.method == "POST"
        else {
            "max_scans": business.policy_max_scans or defaults.max_scans,
            "max_speed_kmh": business.policy_max_speed_kmh or defaults.max_speed_kmh,
            "max_clients": business.policy_max_clients or defaults.max_clients,
            "after_claim_allowance": business.policy_after_claim
            if business.policy_after_claim is not None
            else defaults.after_claim_allowance,
        }
    )
    if form.validate_on_submit():
        business.policy_max_scans = form.max_scans.data
        business.policy_max_speed_kmh = form.max_speed_kmh.data
        business.policy_max_clients = form.max_clients.data
        business.policy_after_claim = form.after_claim_allowance.data
        db_session().commit()
        flash(_("The copy-detection settings are saved."), "success")
        return redirect(url_for("portal.detection_settings"))
    return render_template("portal/detection.html", form=form, defaults=defaults)


@blueprint.get("/reports")
@business_login_required
def reports() -> str:
    return render_template(
        "portal/reports.html", reports=reports_for_business(db_session(), business_id())
    )


@blueprint.get("/reports/<id:report_id>/photo")
@business_login_required
def report_photo(report_id: int) -> Response:
    """A shopper's photo, for the business whose stamp the report is about."""
    report = db_session().get(Report, report_id)
    if report is None or report.business_id != business_id():
        abort(404)
    path = stored_private_upload(state().settings.uploads_path, report.photo)
    if path is None:
        abort(404)
    return private_file(path)
