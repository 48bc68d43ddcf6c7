"""Verified producers, the reviewers' side (/authority/verification): the queue of requests
in the officer's provinces, each request beside what TraceQR already knows, approve or
reject it; the alerts left by claims on another business's identity; withdrawing a
verification found to be fraudulent (docs/identity.md).

An officer sees only the requests and businesses its provinces cover (404 otherwise),
documents included. Decisions go through traceqr.services.identity, which writes the
audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from traceqr.domain.dates import VIETNAM_TZ
from traceqr.errors import N_, NotFound, ValidationError
from traceqr.models import (
    Business,
    Cluster,
    Official,
    User,
    VerificationRequest,
)
from traceqr.services import identity
from traceqr.services.uploads import document_page_count, document_page_jpeg, stored_document
from traceqr.web.authority import authority_required, blueprint, me
from traceqr.web.authority.tables import kind_label, status_label
from traceqr.web.context import db_session, now, state
from traceqr.web.i18n import gettext as _
from traceqr.web.i18n import lazy_gettext as _l
from traceqr.web.portal.account_views import document_response
from traceqr.web.portal.forms import REQUIRED, FlaskForm
from traceqr.web.portal.support import USER_ERRORS, OfficialUser, show_error

MAX_PREVIEW_PAGES = 10


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


class RejectForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason, shown to the business"), [DataRequired(REQUIRED), Length(max=1000)]
    )


class WithdrawForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason, shown to the business and kept in the audit log"),
        [DataRequired(REQUIRED), Length(max=1000)],
    )
    at = StringField(
        _l("Withdrawn from (Vietnam time; empty means now)"), [Optional(), Length(max=40)]
    )
    confirm = BooleanField(
        _l(
            "I understand: stamps this business signed from that time on will show as not "
            "genuine, and it will issue test stamps only"
        ),
        [DataRequired(_l("Tick the box to confirm."))],
    )


def reviewer() -> identity.Reviewer:
    return identity.Reviewer.official(me())


# --- the count in the navigation -----------------------------------------------------------


@blueprint.context_processor
def verification_nav() -> dict[str, Any]:
    def count() -> int:
        from flask_login import current_user

        user = current_user._get_current_object()
        if not isinstance(user, OfficialUser) or user.official.role != "authority":
            return 0
        return identity.pending_count(db_session(), identity.Reviewer.official(user.official))

    return {"pending_verification_count": count}


# --- labels ----------------------------------------------------------------------------------


def alert_kind_text(kind: str) -> str:
    return {
        identity.ALERT_TAX_CODE_TAKEN: _(
            "Claimed a tax code already verified for another business"
        ),
        identity.ALERT_GTIN_TAKEN: _("Used a GTIN that belongs to another verified business"),
        identity.ALERT_GTIN_OUTSIDE_PREFIXES: _("Used a GTIN outside its own GS1 company prefixes"),
        identity.ALERT_PREFIX_TAKEN: _(
            "Claimed a GS1 company prefix recorded for another business"
        ),
    }.get(kind, kind)


def business_status_text(status: str) -> str:
    return {
        identity.UNVERIFIED: _("not verified"),
        identity.VERIFIED: _("verified"),
        identity.WITHDRAWN: _("verification withdrawn"),
    }.get(status, status)


def request_status_text(status: str) -> str:
    return {
        identity.PENDING: _("waiting for review"),
        identity.APPROVED: _("approved"),
        identity.REJECTED: _("rejected"),
        identity.CANCELLED: _("replaced by a newer request"),
    }.get(status, status)


def lookalike_why_text(why: str) -> str:
    return {
        "same_tax_code": _("same tax code"),
        "similar_name": _("similar name"),
    }.get(why, why)


def _actor_names(actors: set[str | None]) -> dict[str, str]:
    """``official:<id>`` → the officer's name; the operator as such."""
    ids = {
        int(actor.split(":", 1)[1])
        for actor in actors
        if actor and actor.startswith("official:") and actor.split(":", 1)[1].isdigit()
    }
    names: dict[str, str] = {}
    if ids:
        for official_id, name in db_session().execute(
            select(Official.id, Official.name).where(Official.id.in_(ids))
        ):
            names[f"official:{official_id}"] = name
    for actor in actors:
        if actor and actor.startswith("operator:"):
            names[actor] = _("the TraceQR operator")
    return names


TEMPLATE_HELPERS = {
    "alert_kind_text": alert_kind_text,
    "business_status_text": business_status_text,
    "request_status_text": request_status_text,
    "lookalike_why_text": lookalike_why_text,
}


# --- the queue, decided requests, alerts -----------------------------------------------------


@blueprint.get("/verification")
@authority_required
def verification_queue() -> str:
    """Pending requests in the officer's provinces, oldest first."""
    rows = identity.request_rows(db_session(), reviewer(), (identity.PENDING,))
    taken = identity.tax_code_taken(db_session(), rows)
    return render_template(
        "authority/verification_queue.html",
        tab="pending",
        rows=rows,
        taken=taken,
        **TEMPLATE_HELPERS,
    )


@blueprint.get("/verification/decided")
@authority_required
def verification_decided() -> str:
    """Approved and rejected requests, latest decision first."""
    rows = identity.request_rows(db_session(), reviewer(), (identity.APPROVED, identity.REJECTED))
    return render_template(
        "authority/verification_queue.html",
        tab="decided",
        rows=rows,
        deciders=_actor_names({record.decided_by for record, _business in rows}),
        **TEMPLATE_HELPERS,
    )


@blueprint.get("/verification/alerts")
@authority_required
def identity_alerts() -> str:
    """Claims on another business's identity that were refused, not yet looked at."""
    who = reviewer()
    alerts = identity.open_alerts(db_session(), who)
    ids = {a.business_id for a in alerts} | {
        a.other_business_id for a in alerts if a.other_business_id
    }
    businesses = {
        b.id: b for b in db_session().scalars(select(Business).where(Business.id.in_(ids)))
    }
    return render_template(
        "authority/verification_queue.html",
        tab="alerts",
        alerts=alerts,
        businesses=businesses,
        covered={bid for bid, b in businesses.items() if who.covers(db_session(), b)},
        confirm=ConfirmForm(),
        **TEMPLATE_HELPERS,
    )


@blueprint.post("/verification/alerts/<id:alert_id>/resolve")
@authority_required
def resolve_identity_alert(alert_id: int) -> Response:
    if ConfirmForm().validate_on_submit():
        try:
            identity.resolve_alert(db_session(), alert_id, reviewer(), now())
        except NotFound:
            abort(404)
        db_session().commit()
        flash(_("The alert is marked as seen."), "success")
    return redirect(url_for("authority.identity_alerts"))


# --- one request -----------------------------------------------------------------------------


def _request(request_id: int) -> VerificationRequest:
    try:
        return identity.get_request(db_session(), request_id, reviewer())
    except NotFound:
        abort(404)


def _documents(record: VerificationRequest) -> list[dict[str, Any]]:
    """The request's certificates, each with its number of pages to preview."""
    found = []
    for key, title, name in (
        ("registration", _("Business registration certificate"), record.registration_document),
        ("gs1", _("GS1 Vietnam membership certificate"), record.gs1_document),
    ):
        if name is None:
            continue
        path = stored_document(state().settings.uploads_path, name)
        found.append(
            {
                "key": key,
                "title": title,
                "missing": path is None,
                "pdf": path is not None and path.suffix == ".pdf",
                "pages": min(document_page_count(path), MAX_PREVIEW_PAGES) if path else 0,
            }
        )
    return found


def _request_page(
    record: VerificationRequest,
    reject_form: RejectForm | None = None,
) -> str:
    session = db_session()
    who = reviewer()
    item = identity.describe_request(session, record)
    business = item.business
    others = {look.business_id for look in item.lookalikes}
    if item.tax_code_holder:
        others.add(item.tax_code_holder)
    for alert in item.alerts:
        others |= {alert.business_id, alert.other_business_id or business.id}
    known = {b.id: b for b in session.scalars(select(Business).where(Business.id.in_(others)))}
    submitter = session.get(User, record.submitted_by) if record.submitted_by else None
    prefixes = identity.business_prefixes(session, business.id)
    comparison = [
        (_("Name shown to shoppers"), record.name, business.name),
        (_("Legal name"), record.legal_name, business.legal_name),
        (_("Tax code (mã số thuế)"), record.tax_code, business.tax_code),
        (_("Street address"), record.address_street, business.address_street),
        (_("Commune or ward (xã/phường)"), record.address_commune, business.address_commune),
        (
            _("Province or city"),
            _province(record.province_code),
            _province(business.province_code),
        ),
        (_("Legal representative"), record.legal_representative, business.legal_representative),
        (
            _("GS1 company prefixes"),
            ", ".join((record.gs1_prefixes or "").split(",")) if record.gs1_prefixes else None,
            ", ".join(prefixes) or None,
        ),
    ]
    return render_template(
        "authority/verification_request.html",
        record=record,
        item=item,
        business=business,
        known=known,
        covered={bid for bid, b in known.items() if who.covers(session, b)},
        comparison=comparison,
        documents=_documents(record),
        submitter=submitter,
        deciders=_actor_names({record.decided_by}),
        cluster_kind=kind_label,
        cluster_status=status_label,
        approve_form=ConfirmForm(),
        reject_form=reject_form or RejectForm(),
        **TEMPLATE_HELPERS,
    )


def _province(code: str | None) -> str | None:
    from traceqr.domain.provinces import province

    found = province(code) if code else None
    return found.name_vi if found else code


@blueprint.get("/verification/<id:request_id>")
@authority_required
def verification_request(request_id: int) -> str:
    return _request_page(_request(request_id))


@blueprint.get("/verification/<id:request_id>/<any(registration, gs1):document>")
@authority_required
def verification_document(request_id: int, document: str) -> Response:
    """A certificate, privately, to an officer whose provinces cover the business."""
    return document_response(_request(request_id), document)


@blueprint.get(
    "/verification/<id:request_id>/<any(registration, gs1):document>"
    "/pages/<int(min=1, max=10):page>"
)
@authority_required
def verification_document_page(request_id: int, document: str, page: int) -> Response:
    """One page of a PDF certificate as an image, to read it in the review page (browsers'
    PDF viewers do not run under the sandbox policy uploads are served with)."""
    record = _request(request_id)
    name = record.registration_document if document == "registration" else record.gs1_document
    path = stored_document(state().settings.uploads_path, name)
    if path is None or path.suffix != ".pdf":
        abort(404)
    jpeg = document_page_jpeg(path, page)
    if jpeg is None:
        abort(404)
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"  # as private_file serves
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@blueprint.post("/verification/<id:request_id>/approve")
@authority_required
def approve_request(request_id: int) -> Response | str:
    record = _request(request_id)
    if ConfirmForm().validate_on_submit():
        try:
            business = identity.approve(
                db_session(), state().keystore, record.id, reviewer(), now()
            )
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(None, error)
        else:
            state().verifier.forget_keys()  # its keys changed: test retired, live made
            flash(
                _(
                    "%(name)s is verified: the stamps it issues from now on are live stamps "
                    "naming the checked identity.",
                    name=business.name,
                ),
                "success",
            )
    return redirect(url_for("authority.verification_request", request_id=request_id))


@blueprint.post("/verification/<id:request_id>/reject")
@authority_required
def reject_request(request_id: int) -> Response | str:
    record = _request(request_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            identity.reject(db_session(), record.id, reviewer(), form.reason.data, now())
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
        else:
            flash(_("The request is rejected; the business sees your reason."), "success")
            return redirect(url_for("authority.verification_request", request_id=request_id))
    return _request_page(_request(request_id), reject_form=form)


# --- a business: its identity, and withdrawing its verification ------------------------------


def _business(business_id: int) -> Business:
    business = db_session().get(Business, business_id)
    if business is None or not reviewer().covers(db_session(), business):
        abort(404)
    return business


def _business_page(business: Business, form: WithdrawForm | None = None) -> str:
    session = db_session()
    requests = identity.requests_of(session, business.id)
    alerts = identity.alerts_about(session, business.id)
    return render_template(
        "authority/verification_business.html",
        business=business,
        requests=requests,
        alerts=alerts,
        prefixes=identity.business_prefixes(session, business.id),
        cluster=session.get(Cluster, business.cluster_id) if business.cluster_id else None,
        cluster_kind=kind_label,
        form=form or WithdrawForm(),
        **TEMPLATE_HELPERS,
    )


@blueprint.get("/verification/businesses/<id:business_id>")
@authority_required
def business_identity(business_id: int) -> str:
    return _business_page(_business(business_id))


def parse_vietnam_time(text: str | None) -> datetime | None:
    """A datetime-local input's value (``2026-11-20T08:00``, or ``20/11/2026 08:00``
    typed by hand) in Vietnam's time; None when empty."""
    value = (text or "").strip()
    if not value:
        return None
    for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%H:%M %d/%m/%Y"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=VIETNAM_TZ)
        except ValueError:
            continue
    raise ValidationError(
        N_("give the date and time as on the form, e.g. 20/11/2026 08:00 (Vietnam time)"),
        field="at",
    )


@blueprint.post("/verification/businesses/<id:business_id>/withdraw")
@authority_required
def withdraw_business(business_id: int) -> Response | str:
    business = _business(business_id)
    form = WithdrawForm()
    if form.validate_on_submit():
        moment = now()
        try:
            at = parse_vietnam_time(form.at.data) or moment
            identity.withdraw(
                db_session(),
                state().keystore,
                business.id,
                reviewer(),
                reason=form.reason.data,
                at=at,
                now=moment,
            )
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error)
        else:
            state().verifier.forget_keys()  # its live keys now carry the withdrawal
            flash(
                _(
                    "The verification of %(name)s is withdrawn from %(when)s.",
                    name=business.name,
                    when=at.astimezone(VIETNAM_TZ).strftime("%H:%M %d/%m/%Y"),
                ),
                "success",
            )
            return redirect(url_for("authority.business_identity", business_id=business.id))
    return _business_page(_business(business_id), form)
