"""Who is behind the current request, for the audit log: an API key, a portal user or an
official. The services ask through :func:`traceqr.services.audit.current_actor`."""

from __future__ import annotations

from flask import g, has_request_context
from flask_login import current_user

from traceqr.services.audit import Actor
from traceqr.web.portal.support import OfficialUser, PortalUser


def request_actor() -> Actor | None:
    if not has_request_context():
        return None
    api_key = g.get("api_key")
    if api_key is not None:
        return ("api_key", str(api_key.id))
    user = current_user._get_current_object() if current_user else None
    if isinstance(user, PortalUser):
        return ("user", str(user.user.id))
    if isinstance(user, OfficialUser):
        return ("official", str(user.official.id))
    return None
