"""Market inspectors and authority officers: accounts the operator creates with the CLI."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.provinces import province
from traceqr.errors import N_, Conflict, ValidationError
from traceqr.models import Official, User
from traceqr.services import audit
from traceqr.services.businesses import check_password_strength, hash_password, password_matches
from traceqr.services.validation import clean_email, required_text

ROLES = ("inspector", "authority")
_DUMMY_HASH = hash_password("not a real password, only for timing")


def create_official(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    provinces: list[str],
    now: datetime,
) -> Official:
    address = clean_email(email)
    if role not in ROLES:
        raise ValidationError(N_("the role must be inspector or authority"), field="role")
    unknown = [code for code in provinces if province(code) is None]
    if unknown:
        raise ValidationError(N_("unknown province %(code)s"), field="provinces", code=unknown[0])
    if password is not None:
        check_password_strength(password)
    taken = session.scalar(select(Official.id).where(Official.email == address)) or session.scalar(
        select(User.id).where(User.email == address)
    )
    if taken:
        raise Conflict(N_("%(email)s already has an account"), field="email", email=address)
    official = Official(
        email=address,
        name=required_text(name, "name", max_length=120),
        role=role,
        provinces=",".join(provinces) or None,
        password_hash=hash_password(password) if password else None,
        created_at=now,
    )
    session.add(official)
    session.flush()
    audit.record(
        session,
        "official.create",
        f"official:{official.id}",
        {"role": role, "provinces": list(provinces)},
        now=now,
    )
    return official


def authenticate_official(
    session: Session, email: str, password: str, now: datetime
) -> Official | None:
    official = session.scalar(select(Official).where(Official.email == email.strip().lower()))
    if official is None or official.disabled_at is not None:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(official.password_hash, password):
        return None
    official.last_login_at = now
    return official


def load_session_official(session: Session, session_id: str) -> Official | None:
    """The official behind a session id ``"o:<id>:<session version>"``."""
    _, _, rest = session_id.partition("o:")
    official_id, _, version = rest.partition(":")
    if not official_id.isdigit() or not version.isdigit() or len(official_id) > 18:
        return None
    official = session.get(Official, int(official_id))
    if official is None or official.disabled_at is not None:
        return None
    return official if official.session_version == int(version) else None


def sign_out(official: Official) -> None:
    """End every session of this official (see :func:`accounts.sign_out`)."""
    official.session_version += 1


def provinces_of(official: Official) -> list[str]:
    """The provinces an official covers; empty means the whole country."""
    return [code for code in (official.provinces or "").split(",") if code]
