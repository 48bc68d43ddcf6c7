"""Businesses, their owner accounts, API keys and signing keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError as ValidationErrorBase
from stdnum.vn import mst

from traceqr.domain.keys import (
    KEY_ACTIVE,
    KEY_RETIRED,
    generate_seed,
    new_kid,
    public_key_from_seed,
)
from traceqr.domain.provinces import province
from traceqr.errors import N_, Conflict, NotFound, ValidationError
from traceqr.keystore import KeyStore
from traceqr.models import ApiKey, Business, SigningKey, User
from traceqr.services import audit
from traceqr.services.key_lifecycle import certify_key
from traceqr.services.validation import clean_email, clean_text, required_text

API_KEY_PREFIX = "tqr_"
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 10
ROLE_OWNER = "owner"
ROLE_STAFF = "staff"

_password_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str, field: str = "password") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            N_("a password needs at least %(minimum)s characters"),
            field=field,
            minimum=MIN_PASSWORD_LENGTH,
        )
    if len(password) > 200:
        raise ValidationError(N_("a password has at most 200 characters"), field=field)
    return password


@dataclass(frozen=True)
class NewBusiness:
    business: Business
    owner: User
    signing_key: SigningKey
    api_key: str | None  # shown once


def create_business(
    session: Session,
    keystore: KeyStore,
    *,
    name: str,
    email: str,
    now: datetime,
    password: str | None = None,
    profile: dict[str, object] | None = None,
    with_api_key: bool = True,
) -> NewBusiness:
    """A business, its owner account, its first signing key and (by default) an API key."""
    clean_name = required_text(name, "name", max_length=200)
    clean_owner_email = clean_email(email)
    if password is not None:
        check_password_strength(password)
    if session.scalar(select(User.id).where(User.email == clean_owner_email)) is not None:
        raise Conflict(
            N_("an account with %(email)s already exists"), field="email", email=clean_owner_email
        )
    business = Business(name=clean_name, email=clean_owner_email, created_at=now)
    apply_profile(business, profile or {})
    session.add(business)
    session.flush()
    owner = User(
        business_id=business.id,
        email=clean_owner_email,
        password_hash=hash_password(password) if password else None,
        role=ROLE_OWNER,
        created_at=now,
    )
    session.add(owner)
    signing_key = create_signing_key(session, keystore, business.id, now)
    api_key = create_api_key(session, business.id, "default", now)[1] if with_api_key else None
    session.flush()
    audit.record(
        session,
        "business.create",
        f"business:{business.id}",
        {"owner_user_id": owner.id, "kid": signing_key.kid.hex()},
        now=now,
    )
    return NewBusiness(business, owner, signing_key, api_key)


PROFILE_FIELDS = {
    "legal_name": 300,
    "phone": 30,
    "website": 300,
    "address_street": 300,
    "address_commune": 120,
    "cluster_name": 200,
}


def clean_tax_code(value: object) -> str | None:
    """A Vietnamese tax code (mã số thuế): 10 digits, or 13 for a branch, check digit valid."""
    text = clean_text(value, "tax_code", max_length=20)
    if text is None:
        return None
    try:
        return str(mst.compact(mst.validate(text)))
    except ValidationErrorBase as exc:
        raise ValidationError(
            N_(
                "a tax code (mã số thuế) has 10 digits, or 13 for a branch written "
                "0123456789-001, with a valid check digit"
            ),
            field="tax_code",
        ) from exc


def apply_profile(business: Business, profile: dict[str, object]) -> None:
    for field, value in profile.items():
        if field == "province_code":
            if value in (None, ""):
                business.province_code = None
            elif province(str(value)) is None:
                raise ValidationError(N_("choose a province from the list"), field=field)
            else:
                business.province_code = str(value)
        elif field == "tax_code":
            business.tax_code = clean_tax_code(value)
        elif field == "name":
            business.name = required_text(value, "name", max_length=200)
        elif field in PROFILE_FIELDS:
            setattr(business, field, clean_text(value, field, max_length=PROFILE_FIELDS[field]))
        else:
            raise ValidationError(N_("unknown field %(name)s"), field=field, name=field)


def get_business(session: Session, business_id: int) -> Business:
    business = session.get(Business, business_id)
    if business is None:
        raise NotFound(N_("business %(id)s not found"), id=business_id)
    return business


# --- signing keys ------------------------------------------------------------------------


def create_signing_key(
    session: Session, keystore: KeyStore, business_id: int, now: datetime
) -> SigningKey:
    """A new active key, certified by the root; the private half goes to the key store,
    never the database."""
    while True:
        kid = new_kid()
        if session.scalar(select(SigningKey.id).where(SigningKey.kid == kid)) is None:
            break
    seed = generate_seed()
    keystore.store(kid, seed)
    key = SigningKey(
        business_id=business_id,
        kid=kid,
        public_key=public_key_from_seed(seed),
        status=KEY_ACTIVE,
        created_at=now,
    )
    session.add(key)
    certify_key(session, keystore, key, now)
    session.flush()
    return key


def active_signing_key(session: Session, business_id: int) -> SigningKey:
    key = session.scalar(
        select(SigningKey)
        .where(SigningKey.business_id == business_id, SigningKey.status == KEY_ACTIVE)
        .order_by(SigningKey.id.desc())
    )
    if key is None:
        raise NotFound(N_("this business has no active signing key; run `traceqr init`"))
    return key


def rotate_signing_key(
    session: Session, keystore: KeyStore, business_id: int, now: datetime
) -> tuple[SigningKey, list[SigningKey]]:
    """Give the business a new key; its old keys become verify-only and stay published."""
    get_business(session, business_id)
    retired = list(
        session.scalars(
            select(SigningKey).where(
                SigningKey.business_id == business_id, SigningKey.status == KEY_ACTIVE
            )
        )
    )
    for key in retired:
        key.status = KEY_RETIRED
        key.retired_at = now
        certify_key(session, keystore, key, now)  # its certificate now says retired
    session.flush()
    new_key = create_signing_key(session, keystore, business_id, now)
    audit.record(
        session,
        "key.rotate",
        f"business:{business_id}",
        {"kid": new_key.kid.hex(), "retired_kids": [key.kid.hex() for key in retired]},
        now=now,
    )
    return new_key, retired


def ensure_signing_keys(session: Session, keystore: KeyStore, now: datetime) -> int:
    """Give every business without an active key one. Returns how many were created."""
    missing = session.scalars(
        select(Business.id).where(
            ~select(SigningKey.id)
            .where(SigningKey.business_id == Business.id, SigningKey.status == KEY_ACTIVE)
            .exists()
        )
    ).all()
    for business_id in missing:
        key = create_signing_key(session, keystore, business_id, now)
        audit.record(
            session, "key.create", f"business:{business_id}", {"kid": key.kid.hex()}, now=now
        )
    return len(missing)


# --- API keys ----------------------------------------------------------------------------


def _hash_api_key(plaintext: str) -> bytes:
    # API keys carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(plaintext.encode("utf-8")).digest()


def create_api_key(
    session: Session, business_id: int, name: str, now: datetime
) -> tuple[ApiKey, str]:
    plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        business_id=business_id,
        name=required_text(name, "name", max_length=100),
        prefix=plaintext[:12],
        key_hash=_hash_api_key(plaintext),
        created_at=now,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        "api_key.create",
        f"business:{business_id}",
        {"api_key_id": record.id, "prefix": record.prefix},
        now=now,
    )
    return record, plaintext


def authenticate_api_key(session: Session, plaintext: str, now: datetime) -> ApiKey | None:
    """The live key for ``plaintext``; records its use at most once a minute."""
    if not plaintext.startswith(API_KEY_PREFIX) or len(plaintext) > 100:
        return None
    record = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_api_key(plaintext)))
    if record is None or record.revoked_at is not None:
        return None
    if record.last_used_at is None or now - record.last_used_at > API_KEY_LAST_USED_RESOLUTION:
        record.last_used_at = now
    return record
