"""The authority's view (/authority): adoption of stamps across provinces, communes and
industrial clusters, counterfeit hot spots, the register of parks and clusters.

Officers of the Department of Industry and Trade sign in here with accounts the operator
creates (`traceqr authority create`). They read aggregates and businesses' public facts,
only for their provinces, and keep the register; they change nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app
from flask_login import current_user

from traceqr.models import Official
from traceqr.services.authority import Scope
from traceqr.web.portal.support import OfficialUser

blueprint = Blueprint("authority", __name__, url_prefix="/authority")
F = TypeVar("F", bound=Callable[..., Any])


def authority_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user._get_current_object()
        if not isinstance(user, OfficialUser) or user.official.role != "authority":
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def me() -> Official:
    return current_user.official  # type: ignore[no-any-return]


def scope() -> Scope:
    return Scope.of(me())


from traceqr.web.authority import register_views, views  # noqa: E402, F401 - registers the routes
