"""The inspector workspace (/inspect): look stamps up, read dossiers, flag, work cases.

Inspectors are not part of any business: their accounts are created by the operator
(`traceqr inspector create`) and sign in here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app
from flask_login import current_user

from traceqr.models import Official
from traceqr.web.portal.support import OfficialUser

blueprint = Blueprint("inspector", __name__, url_prefix="/inspect")
F = TypeVar("F", bound=Callable[..., Any])


def inspector_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user._get_current_object()
        if not isinstance(user, OfficialUser) or user.official.role != "inspector":
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def me() -> Official:
    return current_user.official  # type: ignore[no-any-return]


from traceqr.web.inspector import views  # noqa: E402, F401 - registers the routes
