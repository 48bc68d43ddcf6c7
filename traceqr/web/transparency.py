"""What lets anyone check the operator: the root key, the audit log's signed head, and
(for authority officers) the log itself. See docs/keys.md and docs/audit.md."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user

from traceqr.errors import ValidationError
from traceqr.services import audit
from traceqr.services.key_lifecycle import root_document
from traceqr.web.context import db_session, now, state
from traceqr.web.portal.support import OfficialUser, PortalUser

blueprint = Blueprint("transparency", __name__)


def _json(document: object, cache: str) -> Response:
    response = Response(
        json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False),
        mimetype="application/json",
    )
    response.headers["Cache-Control"] = cache
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blueprint.get("/.well-known/traceqr-root.json")
def root_key() -> Response:
    """The operator's root key(s): pin one, and accept business keys it certified."""
    document = root_document(db_session())
    if not document["keys"]:
        abort(404)
    response = _json(document, "public, max-age=3600")
    response.set_etag(json.dumps(document, sort_keys=True).encode().hex()[-32:])
    return response.make_conditional(request)


@blueprint.get("/.well-known/audit-head.json")
def audit_head() -> Response:
    """The audit log's newest seq and hash, signed now by the root key. Keep copies."""
    session = db_session()
    head = audit.signed_head(session, state().keystore, now())
    session.commit()  # the root key is created here on a fresh instance
    return _json(head, "no-cache")


@blueprint.get("/authority/audit/log.jsonl")
def audit_export() -> Response:
    """The whole log as JSON Lines, for national authority officers (``after`` skips what
    they have); see :func:`audit.may_export` for why provincial officers get none."""
    user = current_user._get_current_object()
    if isinstance(user, PortalUser) or not isinstance(user, OfficialUser):
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined,no-any-return]
    if not audit.may_export(user.official):
        abort(403)
    try:
        after = audit.parse_after(request.args.get("after"))
    except ValidationError:
        abort(400)
    response = Response(audit.stream_lines(state().database, after), mimetype="application/jsonl")
    response.headers["Content-Disposition"] = 'attachment; filename="traceqr-audit.jsonl"'
    response.headers["Cache-Control"] = "no-store"
    return response
