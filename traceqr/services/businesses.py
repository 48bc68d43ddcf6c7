"""Businesses, their owner accounts, API keys and signing keys."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
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
    PURPOSE_LIVE,
    PURPOSE_TEST,
    generate_seed,
    new_kid,
    public_key_from_seed,
)
from traceqr.domain.provinces import province
from traceqr.errors import N_, Conflict, NotFound, ValidationError
from traceqr.keystore import KeyStore
from traceqr.models import ApiKey, Business, SigningKey, User
from traceqr.services import audit, identity
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
    vouched_by: identity.Reviewer | None = None,
    gs1_prefixes: Sequence[str] = (),
) -> NewBusiness:
    """A business, its owner account, its first signing key and (by default) an API key.

    With ``vouched_by`` (the operator) it is created verified, with a live key; otherwise
    (a sign-up) it starts unverified, with a test key (docs/identity.md)."""
    clean_name = required_text(name, "name", max_length=200)
    clean_owner_email = clean_email(email)
    if password is not None:
        check_password_strength(password)
    if session.scalar(select(User.id).where(User.email == clean_owner_email)) is not None:
        raise Conflict(
            N_("an account with %(email)s already exists"), field="email", email=clean_owner_email
        )
    business = Business(
        name=clean_name,
        email=clean_owner_email,
        verification_status=identity.UNVERIFIED,
        created_at=now,
    )
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
    session.flush()
    audit.record(
        session,
        "business.create",
        f"business:{business.id}",
        {"owner_user_id": owner.id, "vouched_by": vouched_by.body if vouched_by else None},
        now=now,
    )
    if vouched_by is not None:
        identity.vouch_for(
            session, keystore, business.id, vouched_by, now, gs1_prefixes=gs1_prefixes
        )
        signing_key = active_signing_key(session, business.id, PURPOSE_LIVE)
    else:
        if gs1_prefixes:
            raise ValidationError(
                N_("GS1 company prefixes are recorded when a business is verified"),
                field="gs1_prefixes",
            )
        signing_key = add_signing_key(session, keystore, business.id, now, PURPOSE_TEST)
    api_key = create_api_key(session, business.id, "default", now)[1] if with_api_key else None
    session.flush()
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
    """Change the profile. A verified identity is frozen: changing it takes a new request."""
    cleaned = dict(profile)
    if "tax_code" in cleaned:
        cleaned["tax_code"] = clean_tax_code(cleaned["tax_code"])
    for field in ("name", *PROFILE_FIELDS):
        if field in cleaned and isinstance(cleaned[field], str):
            cleaned[field] = cleaned[field].strip() or None  # type: ignore[union-attr]
    identity.check_profile_change(business, cleaned)
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
    session: Session,
    keystore: KeyStore,
    business_id: int,
    now: datetime,
    *,
    purpose: str = PURPOSE_LIVE,
) -> SigningKey:
    """A new active key, certified by the root; the private half goes to the key store,
    never the database. ``purpose``: live (a verified business's) or test."""
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
        purpose=purpose,
        created_at=now,
    )
    session.add(key)
    certify_key(session, keystore, key, now)
    session.flush()
    return key


def add_signing_key(
    session: Session, keystore: KeyStore, business_id: int, now: datetime, purpose: str
) -> SigningKey:
    """A new active key of ``purpose`` for the business, written to the audit log."""
    key = create_signing_key(session, keystore, business_id, now, purpose=purpose)
    audit.record(
        session,
        "key.create",
        f"business:{business_id}",
        {"kid": key.kid.hex(), "purpose": purpose},
        now=now,
    )
    return key


def active_signing_key(session: Session, business_id: int, purpose: str) -> SigningKey:
    key = session.scalar(
        select(SigningKey)
        .where(
            SigningKey.business_id == business_id,
            SigningKey.status == KEY_ACTIVE,
            SigningKey.purpose == purpose,
        )
        .order_by(SigningKey.id.desc())
        .limit(1)
    )
    if key is None:
        raise NotFound(N_("this business has no active signing key; run `traceqr init`"))
    return key


def issuing_key(
    session: Session, keystore: KeyStore, business_id: int, now: datetime
) -> SigningKey:
    """The key the business's new stamps are signed with: its live key when it is
    verified, else its test key (made now if it has none: a business from before 0009)."""
    business = get_business(session, business_id)
    purpose = identity.key_purpose_for(business)
    try:
        return active_signing_key(session, business_id, purpose)
    except NotFound:
        if purpose != PURPOSE_TEST:
            raise
    return add_signing_key(session, keystore, business_id, now, PURPOSE_TEST)


def rotate_signing_key(
    session: Session, keystore: KeyStore, business_id: int, now: datetime
) -> tuple[SigningKey, list[SigningKey]]:
    """Give the business a new key; its old keys become verify-only and stay published."""
    business = get_business(session, business_id)
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
    new_key = create_signing_key(
        session, keystore, business_id, now, purpose=identity.key_purpose_for(business)
    )
    audit.record(
        session,
        "key.rotate",
        f"business:{business_id}",
        {"kid": new_key.kid.hex(), "retired_kids": [key.kid.hex() for key in retired]},
        now=now,
    )
    return new_key, retired


def ensure_signing_keys(session: Session, keystore: KeyStore, now: datetime) -> int:
    """Give every business without an active key of the kind it signs with (live when
    verified, test otherwise) one. Returns how many were created."""
    created = 0
    for business in session.scalars(select(Business).order_by(Business.id)).all():
        purpose = identity.key_purpose_for(business)
        has_key = session.scalar(
            select(SigningKey.id).where(
                SigningKey.business_id == business.id,
                SigningKey.status == KEY_ACTIVE,
                SigningKey.purpose == purpose,
            )
        )
        if has_key is None:
            add_signing_key(session, keystore, business.id, now, purpose)
            created += 1
    return created


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
