"""Signing up, in and out; forgotten passwords; accepting an invitation."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from traceqr.services import accounts
from traceqr.web.context import db_session, now, state
from traceqr.web.i18n import gettext as _
from traceqr.web.portal import blueprint
from traceqr.web.portal.forms import (
    ChangePasswordForm,
    ForgotForm,
    LoginForm,
    SetPasswordForm,
    SignupForm,
)
from traceqr.web.portal.support import (
    USER_ERRORS,
    PortalUser,
    business_login_required,
    me,
    show_error,
)
from traceqr.web.ratelimit import limited
from traceqr.web.security import public_link


def links() -> accounts.LinkSigner:
    return accounts.LinkSigner(state().settings.secret_key)


def safe_next(target: str | None, area: str = "/portal", fallback: str = "portal.dashboard") -> str:
    """Only paths inside ``area``: never an open redirect. A control character (CR or LF
    would split the Location header) or a backslash makes the target unsafe: the default
    page instead."""
    if (
        target
        and target.startswith(area)
        and "\\" not in target
        and not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in target)
        and not urlsplit(target).netloc
    ):
        return target
    return url_for(fallback)


def sign_in(user: accounts.User) -> None:
    lang = session.get("lang")
    session.clear()  # a new session for the signed-in person: no fixation
    if lang:
        session["lang"] = lang
    session.permanent = True
    login_user(PortalUser(user))


@blueprint.route("/signup", methods=["GET", "POST"])
@limited("login")
def signup() -> Response | str:
    """The same answer whether or not the address already has an account: "check your
    e-mail". A new owner is mailed that the account is ready; the owner of an address
    that has one is told someone tried, with links to sign in or to reset the password.
    Nobody learns from this page which addresses have accounts."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            created = accounts.sign_up_unless_taken(
                db_session(),
                state().keystore,
                business_name=form.business_name.data or "",
                email=form.email.data or "",
                password=form.password.data or "",
                name=form.name.data,
                now=now(),
            )
            db_session().commit()
        except USER_ERRORS as error:
            db_session().rollback()
            show_error(form, error, {"name": "business_name"})
        else:
            address = (form.email.data or "").strip().lower()
            login = public_link("portal.login")
            if created is not None:
                state().mailer.send_later(
                    created.owner.email,
                    _("TraceQR: your account is ready"),
                    _(
                        "Your TraceQR account for %(business)s is ready. Sign in with the "
                        "password you chose, then fill in your business profile:",
                        business=created.business.name,
                    )
                    + f"\n\n{login}\n",
                )
            else:
                state().mailer.send_later(
                    address,
                    _("TraceQR: someone tried to register with your address"),
                    _(
                        "Someone tried to register a new business on TraceQR with this "
                        "e-mail address, which already has an account. If it was you, sign "
                        "in here:"
                    )
                    + f"\n\n{login}\n\n"
                    + _("Forgot your password? Set a new one here:")
                    + f"\n\n{public_link('portal.forgot')}\n\n"
                    + _("If it was not you, ignore this message: nothing was changed.")
                    + "\n",
                )
            session["signed_up"] = address  # the first sign-in opens the profile
            return redirect(url_for("portal.signup_sent"))
    return render_template("portal/signup.html", form=form)


@blueprint.get("/signup/sent")
def signup_sent() -> str:
    return render_template("portal/signup_sent.html")


@blueprint.route("/login", methods=["GET", "POST"])
@limited("login")
def login() -> Response | str:
    if isinstance(current_user._get_current_object(), PortalUser):
        return redirect(url_for("portal.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(
            db_session(), form.email.data or "", form.password.data or "", now()
        )
        if user is None:
            form.password.errors = [_("The e-mail or the password is not right.")]
        else:
            db_session().commit()
            first_visit = session.get("signed_up") == user.email
            sign_in(user)
            if first_visit and not request.args.get("next"):
                flash(_("Welcome! Fill in your business profile: shoppers see it."), "success")
                return redirect(url_for("portal.profile"))
            return redirect(safe_next(request.args.get("next")))
    return render_template("portal/login.html", form=form)


@blueprint.post("/logout")
def logout() -> Response:
    signed_in = current_user._get_current_object()
    if isinstance(signed_in, PortalUser):
        # Every copy of the cookie ends here, not only this browser's.
        accounts.sign_out(signed_in.user)
        db_session().commit()
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You are signed out."), "success")
    return redirect(url_for("portal.login"))


@blueprint.route("/forgot", methods=["GET", "POST"])
@limited("login")
def forgot() -> Response | str:
    form = ForgotForm()
    if form.validate_on_submit():
        user = accounts.find_user_for_reset(db_session(), form.email.data or "")
        if user is not None:
            # Sent after the answer, by the mail thread: known and unknown addresses take
            # as long, and a mail server that is down is logged, not a 500.
            link = public_link("portal.reset", token=links().make(user, "reset"))
            state().mailer.send_later(
                user.email,
                _("TraceQR: set a new password"),
                _("Open this link within 24 hours to set a new password:") + f"\n\n{link}\n",
            )
        # The same answer either way: nobody learns which addresses have accounts.
        flash(
            _("If an account uses that address, a link to set a new password is on its way."),
            "success",
        )
        return redirect(url_for("portal.login"))
    return render_template("portal/forgot.html", form=form)


def _set_password_page(token: str, purpose: str, max_age: int) -> Response | str:
    form = SetPasswordForm()
    try:
        user = links().read(db_session(), token, purpose, max_age)
    except USER_ERRORS as error:
        show_error(None, error)
        return redirect(url_for("portal.forgot"))
    if form.validate_on_submit():
        try:
            accounts.set_password(user, form.password.data or "")
        except USER_ERRORS as error:
            show_error(form, error)
        else:
            db_session().commit()
            sign_in(user)
            flash(_("Your password is set."), "success")
            return redirect(url_for("portal.dashboard"))
    return render_template("portal/set_password.html", form=form, purpose=purpose, email=user.email)


@blueprint.route("/reset/<token>", methods=["GET", "POST"])
@limited("login")
def reset(token: str) -> Response | str:
    return _set_password_page(token, "reset", accounts.RESET_MAX_AGE)


@blueprint.route("/invite/<token>", methods=["GET", "POST"])
@limited("login")
def accept_invite(token: str) -> Response | str:
    return _set_password_page(token, "invite", accounts.INVITE_MAX_AGE)


@blueprint.route("/account/password", methods=["GET", "POST"])
@limited("login")  # it checks the current password: no guessing it from a stolen session
@business_login_required
def change_password() -> Response | str:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                me(), form.current_password.data or "", form.password.data or ""
            )
        except USER_ERRORS as error:
            show_error(form, error)
        else:
            db_session().commit()
            sign_in(me())
            flash(_("Your password is changed. Other sessions are signed out."), "success")
            return redirect(url_for("portal.dashboard"))
    return render_template("portal/change_password.html", form=form)
