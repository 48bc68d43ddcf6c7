"""Public pages: the stamp verification page, manual code entry, JWKS, health."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, abort, redirect, render_template, request, send_file
from itsdangerous import BadData, URLSafeTimedSerializer

from traceqr.domain.provinces import province
from traceqr.domain.stamp_format import FORMAT_V1, short_code
from traceqr.errors import Conflict, ValidationError
from traceqr.services import claims, traceability
from traceqr.services.registry import jwks_document
from traceqr.services.shoppers import clean_place, create_report, set_scan_place
from traceqr.services.uploads import prepare_image, private_folder, safe_upload_path
from traceqr.services.verification import ClientFacts, Verification
from traceqr.web.context import db_session, now, state
from traceqr.web.i18n import gettext as _
from traceqr.web.i18n import url_with_lang, vn_datetime
from traceqr.web.portal.forms import province_select
from traceqr.web.portal.support import show_error, translated
from traceqr.web.public_forms import ClaimForm, PlaceForm, ReportForm
from traceqr.web.ratelimit import limited

blueprint = Blueprint("public", __name__)


def client_facts() -> ClientFacts:
    return ClientFacts(address=request.remote_addr, user_agent=request.user_agent.string)


def scan_tokens() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(state().settings.secret_key, salt="traceqr-scan-place")


def render_verification(
    result: Verification,
    entered: str | None = None,
    *,
    notice: str | None = None,
    notice_tone: str = "good",
    status_code: int = 200,
    scanned: str | None = None,
) -> Response:
    business_province = province(result.origin.get("province_code"))
    # The place form follows a recorded check of a known stamp (its token names the check).
    place_token = None
    if result.scan_id is not None and result.stamp_id is not None:
        place_token = scan_tokens().dumps(result.scan_id)
    # The check already asked whether the batch's journey has any step. The page shows its
    # last steps only, with a link to the rest (public.journey_pages).
    has_journey = result.origin.get("has_journey") if result.origin else False
    journey = (
        traceability.journey(
            db_session(), result.origin["batch_id"], last=traceability.JOURNEY_STEPS
        )
        if has_journey
        else None
    )
    html = render_template(
        "stamp.html",
        journey=journey,
        result=result,
        status=result.status.value,
        short_code=short_code(result.stamp.serial) if result.stamp else None,
        province=business_province,
        today=now().date(),
        entered=entered,
        notice=notice,
        notice_tone=notice_tone,
        place_token=place_token,
        # The place and PIN forms are written by hand in the page, not by WTForms: its
        # per-attribute escaping made their few fields a sixth of the page's time. What
        # they post still goes through PlaceForm and ClaimForm.
        province_select=province_select("province_code", id="province_code")
        if place_token
        else None,
        code=result.stamp.code if result.stamp and result.stamp.version == FORMAT_V1 else None,
        stamp_text=result.stamp.url(state().settings.public_url) if result.stamp else None,
        scanned=scanned or entered,
    )
    response = Response(html, status=status_code, mimetype="text/html")
    # Every view is a fresh verification: never serve one from a cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Accept-Language"
    return response


@blueprint.get("/")
def home() -> str:
    return render_template("home.html")


@blueprint.get("/S/<path:code>")
@blueprint.get("/s/<path:code>")
@limited("verify")
def stamp_page(code: str) -> Response:
    """The page a stamp's QR opens. Any code gets a page: invalid ones say so."""
    scanned = f"{state().settings.public_url}/S/{code}"
    result = state().verifier.verify(scanned, now=now(), channel="page", client=client_facts())
    return render_verification(result, scanned=scanned)


@blueprint.get("/01/<path:rest>")
@blueprint.get("/gtin/<path:rest>")  # the short names of GS1 Digital Link 1.0
@limited("verify")
def digital_link_page(rest: str) -> Response | tuple[str, int]:
    """A GS1 Digital Link on this service. With a key id and a signature it is a version 2
    stamp: verified like any stamp. Without, it names a product (and maybe a lot): the
    resolver shows what TraceQR knows about it."""
    scanned = f"{state().settings.public_url}{_raw_path()}"
    result = state().verifier.verify(scanned, now=now(), channel="page", client=client_facts())
    if result.format_error == "unsigned_digital_link":
        return product_link_page(scanned)
    return render_verification(result, scanned=scanned)


def _raw_path() -> str:
    """The path and query as the client sent them: a lot may hold a percent-encoded ``/``,
    which the decoded ``request.path`` would turn into a path separator."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        path = raw.split("?", 1)[0]
        root = request.script_root
        if root and path.startswith(root):
            path = path[len(root) :]
    else:
        path = quote(request.path, safe="/:@!$&'()*+,;=-._~")
    query = request.query_string.decode("utf-8", "replace")
    return path + (f"?{query}" if query else "")


def product_link_page(text: str) -> tuple[str, int]:
    """What a GS1 resolver answers for a product or lot link: the product, its producer,
    and the lot's journey; never a verdict, since a plain link proves nothing."""
    from traceqr.domain.digital_link import DigitalLinkError, parse_digital_link

    try:
        link = parse_digital_link(text)
    except DigitalLinkError:
        abort(404)
    found = traceability.resolve_product_link(db_session(), link.gtin, link.qualifier("10"))
    if found is None:
        return render_template("product_link.html", link=link, found=None), 404
    journey = traceability.public_journey(db_session(), found.batch.id) if found.batch else None
    return render_template(
        "product_link.html", link=link, found=found, journey=journey, link_text=text
    ), 200


@blueprint.get("/journey")
@limited("verify")
def journey_pages() -> Response:
    """Every step of a batch's journey, a page at a time: the "see all steps" of a stamp
    page (``q`` is the stamp's text) or of a product link page (``q`` is the link). Nothing
    is recorded: looking through the steps is not a check of the stamp."""
    text = (request.args.get("q") or "")[:600]
    raw_page = request.args.get("page", "1")
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 7 else 0
    batch_id = _journey_batch(text) if text.strip() and page >= 1 else None
    if batch_id is None:
        abort(404)
    per_page = traceability.JOURNEY_PAGE_STEPS
    journey = traceability.journey(db_session(), batch_id, page=page, per_page=per_page)
    pages = max(1, -(-journey.step_count // per_page))
    if page > pages:
        abort(404)
    html = render_template("journey.html", journey=journey, page=page, pages=pages, text=text)
    response = Response(html, mimetype="text/html")
    response.headers["Vary"] = "Accept-Language"
    return response


def _journey_batch(text: str) -> int | None:
    """The batch whose journey a stamp or a product link shows (as their pages do)."""
    result = state().verifier.inspect(text, now=now(), client=client_facts())
    if result.origin and result.origin.get("batch_id"):
        return int(result.origin["batch_id"])
    if result.format_error != "unsigned_digital_link":
        return None
    from traceqr.domain.digital_link import DigitalLinkError, parse_digital_link

    try:
        link = parse_digital_link(text)
    except DigitalLinkError:
        return None
    found = traceability.resolve_product_link(db_session(), link.gtin, link.qualifier("10"))
    return found.batch.id if found is not None and found.batch is not None else None


@blueprint.get("/verify")
@limited("verify")
def verify_entered() -> Response | str:
    """Manual entry: the short code printed under the QR, or a pasted URL or code."""
    entered = request.args.get("code", "")
    if not entered.strip():
        return render_template("home.html", missing_code=True)
    result = state().verifier.verify(entered, now=now(), channel="page", client=client_facts())
    return render_verification(result, entered=entered[:200])


def _stamp_text(code: str) -> str:
    return f"{state().settings.public_url}/S/{code}"


@blueprint.post("/S/<path:code>/place")
@blueprint.post("/s/<path:code>/place")
@limited("verify")
def stamp_place(code: str) -> Response:
    """The shopper says where they are (a province, or a position with consent)."""
    return _place(_stamp_text(code))


@blueprint.post("/stamp/place")
@limited("verify")
def link_place() -> Response:
    """The same, for a stamp whose URL is a GS1 Digital Link (sent in a hidden field)."""
    return _place(_posted_stamp_text())


def _posted_stamp_text() -> str:
    text = (request.form.get("stamp") or "")[:600]
    if not text.strip():
        abort(400)
    return text


def _place(text: str) -> Response:
    form = PlaceForm()
    result = state().verifier.inspect(text, now=now(), client=client_facts())
    try:
        scan_id = scan_tokens().loads(form.token.data or "", max_age=24 * 3600)
    except BadData:
        abort(400)
    try:
        place = clean_place(form.province_code.data, form.lat.data, form.lon.data)
    except ValidationError as error:
        return render_verification(
            result, notice=translated(error), notice_tone="bad", status_code=400
        )
    recorded = set_scan_place(db_session(), int(scan_id), *place)
    db_session().commit()
    if recorded:
        notice = _("Thank you: the place helps the producer catch copied stamps.")
    else:
        notice = _("This check already has a place.")
    return render_verification(result, notice=notice)


@blueprint.post("/S/<path:code>/claim")
@blueprint.post("/s/<path:code>/claim")
@limited("pin")
def stamp_claim(code: str) -> Response:
    """The first buyer enters the scratch-off PIN, once."""
    return _claim(_stamp_text(code))


@blueprint.post("/stamp/claim")
@limited("pin")
def link_claim() -> Response:
    """The same, for a stamp whose URL is a GS1 Digital Link (sent in a hidden field)."""
    return _claim(_posted_stamp_text())


def _claim(text: str) -> Response:
    form = ClaimForm()
    before = state().verifier.inspect(text, now=now(), client=client_facts())
    if before.stamp is None or before.stamp_id is None or not before.verdict.signature_valid:
        abort(404)
    outcome = claims.claim(
        db_session(),
        state().pins,
        before.stamp.serial,
        form.pin.data or "",
        state().verifier.client_hash(request.remote_addr, now()),
        now(),
    )
    db_session().commit()
    after = state().verifier.inspect(text, now=now(), client=client_facts())
    messages = {
        claims.ClaimOutcome.CLAIMED: (
            _("Claimed: you are recorded as this product's first buyer."),
            "good",
        ),
        claims.ClaimOutcome.ALREADY_CLAIMED: (
            _("This stamp was already claimed on %(when)s.", when=vn_datetime(outcome.claimed_at)),
            "bad",
        ),
        claims.ClaimOutcome.WRONG_PIN: (
            _("Wrong PIN. %(left)s attempts left.", left=outcome.attempts_left or 0),
            "bad",
        ),
        claims.ClaimOutcome.LOCKED: (
            _(
                "Too many wrong PINs: try again after %(when)s.",
                when=vn_datetime(outcome.locked_until),
            ),
            "bad",
        ),
        claims.ClaimOutcome.NO_PIN: (_("This stamp has no PIN."), "bad"),
        claims.ClaimOutcome.NOT_FOUND: (_("This stamp has no PIN."), "bad"),
    }
    notice, tone = messages[outcome.outcome]
    status_code = 200 if outcome.outcome is claims.ClaimOutcome.CLAIMED else 400
    if outcome.outcome is claims.ClaimOutcome.LOCKED:
        status_code = 429
    return render_verification(after, notice=notice, notice_tone=tone, status_code=status_code)


@blueprint.route("/report", methods=["GET", "POST"])
@limited("report")
def report() -> Response | str:
    """A shopper reports a suspected fake: any scanned text, ours or not."""
    form = ReportForm()
    code = (request.args.get("code") or form.code.data or "")[:300]
    if not code.strip():
        return redirect(url_with_lang("public.home"))
    result = state().verifier.inspect(code, now=now(), client=client_facts())
    if form.validate_on_submit():
        settings = state().settings
        saved: Path | None = None
        try:
            # The photo is checked in memory, the report validated and flushed, and only
            # then is the file written: a refused report leaves no file behind.
            upload = request.files.get("photo")
            photo = None
            if upload is not None and upload.filename:
                photo = prepare_image(
                    upload.read(settings.max_upload_bytes + 1),
                    field="photo",
                    max_bytes=settings.max_upload_bytes,
                )
            business_id = result.origin.get("business_id") or (
                result.key.public.business_id
                if result.key and result.verdict.signature_valid
                else None
            )
            create_report(
                db_session(),
                stamp_id=result.stamp_id,
                business_id=business_id,
                scanned_text=code,
                status=result.status.value,
                data={
                    name: form[name].data
                    for name in ("shop_name", "shop_address", "province_code", "note", "contact")
                },
                photo=photo.stored if photo else None,
                client_hash=state().verifier.client_hash(request.remote_addr, now()),
                now=now(),
            )
            if photo is not None:
                saved = photo.save(private_folder(settings.uploads_path))
            db_session().commit()
        except BaseException as error:
            db_session().rollback()
            if saved is not None:
                saved.unlink(missing_ok=True)  # the report it belonged to was not kept
            if not isinstance(error, (ValidationError, Conflict)):
                raise
            show_error(form, error)
        else:
            return render_template("report_sent.html", result=result, code=code)
    if not form.code.data:
        form.code.data = code
    return render_template("report.html", form=form, result=result, code=code)


@blueprint.get("/media/<filename>")
def media(filename: str) -> Response:
    """Product photos and logos: public (shoppers see them), stored under random names."""
    path = safe_upload_path(state().settings.uploads_path, filename)
    if path is None:
        abort(404)
    response = send_file(path, max_age=30 * 24 * 3600)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@blueprint.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    problem = state().database.health()
    if problem is not None:
        return {"status": "unavailable", "database": problem}, 503
    return {"status": "ok", "database": "ok"}, 200


@blueprint.get("/.well-known/jwks.json")
def jwks() -> Response:
    body = json.dumps(jwks_document(db_session()), separators=(",", ":"), sort_keys=True)
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    response = Response(body, mimetype="application/jwk-set+json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)
