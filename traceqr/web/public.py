"""Public pages: the stamp verification page, manual code entry, JWKS, health."""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, abort, render_template, request, send_file
from sqlalchemy import text

from traceqr.domain.provinces import province
from traceqr.domain.stamp_format import short_code
from traceqr.services.registry import jwks_document
from traceqr.services.uploads import safe_upload_path
from traceqr.services.verification import ClientFacts, Verification
from traceqr.web.context import db_session, now, state
from traceqr.web.ratelimit import limited

blueprint = Blueprint("public", __name__)


def client_facts() -> ClientFacts:
    return ClientFacts(address=request.remote_addr, user_agent=request.user_agent.string)


def render_verification(result: Verification, entered: str | None = None) -> Response:
    business_province = province(result.origin.get("province_code"))
    html = render_template(
        "stamp.html",
        result=result,
        status=result.status.value,
        short_code=short_code(result.stamp.serial) if result.stamp else None,
        province=business_province,
        today=now().date(),
        entered=entered,
    )
    response = Response(html, mimetype="text/html")
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
    return render_verification(result)


@blueprint.get("/verify")
@limited("verify")
def verify_entered() -> Response | str:
    """Manual entry: the short code printed under the QR, or a pasted URL or code."""
    entered = request.args.get("code", "")
    if not entered.strip():
        return render_template("home.html", missing_code=True)
    result = state().verifier.verify(entered, now=now(), channel="page", client=client_facts())
    return render_verification(result, entered=entered[:200])


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
    database = state().database
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        migrated = database.is_migrated()
    except Exception as exc:
        return {"status": "unavailable", "database": type(exc).__name__}, 503
    if not migrated:
        return {"status": "unavailable", "database": "schema missing: run traceqr init"}, 503
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
