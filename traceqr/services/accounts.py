"""People: signing up, signing in, resetting passwords, inviting staff.

Links sent by e-mail (password reset, invitations) are signed tokens that name the user and
their ``session_version``: setting a password bumps the version, so a link works once, and
every session signed in before it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from traceqr.errors import N_, Conflict, Forbidden, NotFound, ValidationError
from traceqr.keystore import KeyStore
from traceqr.models import User
from traceqr.services import audit
from traceqr.services.businesses import (
    ROLE_OWNER,
    ROLE_STAFF,
    NewBusiness,
    check_password_strength,
    create_business,
    hash_password,
    password_matches,
)
from traceqr.services.validation import clean_email, clean_text, required_text

ROLES = (ROLE_OWNER, ROLE_STAFF)
RESET_MAX_AGE = 24 * 3600
INVITE_MAX_AGE = 7 * 24 * 3600
# A hash to compare against when the e-mail is unknown, so both answers take as long.
_DUMMY_HASH = hash_password("not a real password, only for timing")


def sign_up(
    session: Session,
    keystore: KeyStore,
    *,
    business_name: str,
    email: str,
    password: str,
    name: str | None,
    now: datetime,
) -> NewBusiness:
    created = create_business(
        session,
        keystore,
        name=business_name,
        email=email,
        password=password,
        now=now,
        with_api_key=False,
    )
    created.owner.name = clean_text(name, "name", max_length=120)
    return created


def sign_up_unless_taken(
    session: Session,
    keystore: KeyStore,
    *,
    business_name: str,
    email: str,
    password: str,
    name: str | None,
    now: datetime,
) -> NewBusiness | None:
    """:func:`sign_up` for the sign-up page: None, and nothing made, when the address
    already has an account. Both take about as long (a password is hashed either way) and
    the page answers both alike, so that nobody learns from a sign-up which addresses have
    accounts: the address's owner is told by e-mail instead."""
    required_text(business_name, "name", max_length=200)
    address = clean_email(email)
    check_password_strength(password)
    clean_text(name, "name", max_length=120)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        hash_password(password)  # the time a new account's password takes
        return None
    return sign_up(
        session,
        keystore,
        business_name=business_name,
        email=address,
        password=password,
        name=name,
        now=now,
    )


def authenticate(session: Session, email: str, password: str, now: datetime) -> User | None:
    """The active user with this e-mail and password, or None (same time either way)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or user.removed_at is not None:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(user.password_hash, password):
        return None
    user.last_login_at = now
    return user


def load_session_user(session: Session, session_id: str) -> User | None:
    """The user behind a session cookie's id ``"<user id>:<session version>"``."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit() or len(user_id) > 18:
        return None
    user = session.get(User, int(user_id))
    if user is None or user.removed_at is not None or user.session_version != int(version):
        return None
    return user


def session_id(user: User) -> str:
    return f"{user.id}:{user.session_version}"


def sign_out(user: User) -> None:
    """End every session of this user: a copy of the cookie saved anywhere (another
    browser, a shared computer) names the old version and no longer signs anyone in.
    Links sent by e-mail before it end too: the owner asks for a new one."""
    user.session_version += 1


# --- signed links --------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkSigner:
    secret: str

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=f"traceqr-{purpose}")

    def make(self, user: User, purpose: str) -> str:
        return self._serializer(purpose).dumps({"u": user.id, "v": user.session_version})

    def read(self, session: Session, token: str, purpose: str, max_age: int) -> User:
        try:
            data: Any = self._serializer(purpose).loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise ValidationError(
                N_("this link has expired: ask for a new one"), field="token"
            ) from exc
        except BadSignature as exc:
            raise ValidationError(N_("this link is not valid"), field="token") from exc
        user = session.get(User, data.get("u")) if isinstance(data, dict) else None
        if user is None or user.removed_at is not None or user.session_version != data.get("v"):
            raise ValidationError(N_("this link has already been used"), field="token")
        return user


def find_user_for_reset(session: Session, email: str) -> User | None:
    try:
        address = clean_email(email)
    except ValidationError:
        return None
    user = session.scalar(select(User).where(User.email == address))
    return None if user is None or user.removed_at is not None else user


def set_password(user: User, password: str) -> None:
    """A new password; every existing session and every link sent before ends."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.session_version += 1


def change_password(user: User, current: str, new: str) -> None:
    if not password_matches(user.password_hash, current):
        raise ValidationError(N_("the current password is not right"), field="current_password")
    set_password(user, new)


# --- staff ---------------------------------------------------------------------------------


def require_owner(user: User) -> None:
    if user.role != ROLE_OWNER:
        raise Forbidden(N_("only the business owner can do this"))


def members(session: Session, business_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.business_id == business_id, User.removed_at.is_(None))
            .order_by(User.id)
        )
    )


def invite(
    session: Session, inviter: User, email: str, role: str, name: str | None, now: datetime
) -> User:
    require_owner(inviter)
    address = clean_email(email)
    if role not in ROLES:
        raise ValidationError(N_("the role must be owner or staff"), field="role")
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise Conflict(N_("%(email)s already has an account"), field="email", email=address)
    user = User(
        business_id=inviter.business_id,
        email=address,
        name=clean_text(name, "name", max_length=120),
        role=role,
        invited_by=inviter.id,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "user.invite",
        f"user:{user.id}",
        {"business_id": user.business_id, "role": role},
        now=now,
        actor=("user", str(inviter.id)),
    )
    return user


def _member(session: Session, owner: User, user_id: int) -> User:
    require_owner(owner)
    user = session.get(User, user_id)
    if user is None or user.business_id != owner.business_id or user.removed_at is not None:
        raise NotFound(N_("no such member"))
    return user


def _owners_left(session: Session, business_id: int, without: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                User.business_id == business_id,
                User.role == ROLE_OWNER,
                User.removed_at.is_(None),
                User.id != without,
            )
        )
        or 0
    )


def change_role(
    session: Session, owner: User, user_id: int, role: str, now: datetime | None = None
) -> User:
    user = _member(session, owner, user_id)
    if role not in ROLES:
        raise ValidationError(N_("the role must be owner or staff"), field="role")
    if role != ROLE_OWNER and not _owners_left(session, owner.business_id, user.id):
        raise Conflict(N_("a business keeps at least one owner"), field="role")
    previous = user.role
    user.role = role
    user.session_version += 1  # new rights take effect at once
    if previous != role:
        audit.record(
            session,
            "user.role",
            f"user:{user.id}",
            {"business_id": user.business_id, "from": previous, "to": role},
            now=now or datetime.now(UTC),
            actor=("user", str(owner.id)),
        )
    return user


def remove_member(session: Session, owner: User, user_id: int, now: datetime) -> User:
    user = _member(session, owner, user_id)
    if user.role == ROLE_OWNER and not _owners_left(session, owner.business_id, user.id):
        raise Conflict(N_("a business keeps at least one owner"))
    user.removed_at = now
    user.session_version += 1
    # Free the address so the person can be invited again later.
    user.email = f"removed-{user.id}-{user.email}"[:254]
    audit.record(
        session,
        "user.remove",
        f"user:{user.id}",
        {"business_id": user.business_id, "role": user.role},
        now=now,
        actor=("user", str(owner.id)),
    )
    return user
