"""What the portal's views share: the signed-in user, owner-only checks, form errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, flash, request
from flask_login import current_user
from flask_wtf import FlaskForm

from traceqr.errors import Conflict, TraceQRError, ValidationError
from traceqr.models import Official, User
from traceqr.services.identity import keep_alert
from traceqr.web.context import db_session, now
from traceqr.web.i18n import gettext

F = TypeVar("F", bound=Callable[..., Any])
# Errors a person fixes in the form. NotFound and Forbidden are not caught: they become
# the 404 and 403 pages, the same whether an object is missing or another business's.
USER_ERRORS = (ValidationError, Conflict)


class PortalUser:
    """Flask-Login's view of a user; the session id changes when the password does."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version}"

    @property
    def is_owner(self) -> bool:
        return self.user.role == "owner"


class OfficialUser:
    """An inspector or authority officer, signed in through /inspect."""

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_owner = False

    def __init__(self, official: Official) -> None:
        self.official = official

    def get_id(self) -> str:
        return f"o:{self.official.id}:{self.official.session_version}"


def business_login_required(view: F) -> F:
    """Portal pages: a business user must be signed in (an inspector is sent to sign in)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not isinstance(current_user._get_current_object(), PortalUser):
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def me() -> User:
    """The signed-in user, attached to this request's database session."""
    return current_user.user  # type: ignore[no-any-return]


def business_id() -> int:
    return me().business_id


def owner_required(view: F) -> F:
    """Owner-only pages answer 403 to staff."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if me().role != "owner":
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def translated(error: TraceQRError) -> str:
    """The error's message in the page's language, as a sentence."""
    text = gettext(error.template, **error.params) if error.params else gettext(error.template)
    if not error.template.startswith("%("):  # never capitalise an e-mail or a code
        text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."


def show_error(
    form: FlaskForm | None, error: TraceQRError, aliases: dict[str, str] | None = None
) -> None:
    """Put a service error next to its field, or at the top of the page. A claim on
    another business's identity is also left as an alert for the reviewers."""
    keep_alert(db_session(), error, now())
    field_name = (aliases or {}).get(error.field or "", error.field)
    if form is not None and field_name and field_name in form:
        form[field_name].errors = [*list(form[field_name].errors), translated(error)]
    else:
        flash(translated(error), "error")


def page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value
