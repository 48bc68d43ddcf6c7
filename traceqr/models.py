"""The database schema, in one place. Migrations under traceqr/migrations follow it.

Times are stored in UTC and come back timezone-aware on SQLite and PostgreSQL alike; the
pages show them in Vietnam's time (UTC+7).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time: stored as UTC, always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Business(Base):
    """A producer. Its legal identity (legal name, tax code, registered address, the name
    shown to shoppers) is frozen once a reviewer has verified it (docs/identity.md)."""

    __tablename__ = "businesses"
    __table_args__ = (
        # A tax code belongs to at most one verified business: the database says so, so
        # two reviewers approving two requests for one tax code at once cannot both win.
        Index(
            "uq_businesses_verified_tax_code",
            "tax_code",
            unique=True,
            sqlite_where=text("verification_status = 'verified'"),
            postgresql_where=text("verification_status = 'verified'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), comment="trading name shown to shoppers")
    legal_name: Mapped[str | None] = mapped_column(String(300))
    tax_code: Mapped[str | None] = mapped_column(String(14), comment="mã số thuế, 10 or 13 digits")
    legal_representative: Mapped[str | None] = mapped_column(
        String(120), comment="người đại diện theo pháp luật"
    )
    verification_status: Mapped[str] = mapped_column(
        String(12),
        default="unverified",
        server_default="unverified",
        comment="unverified (test stamps only), verified (live stamps) or withdrawn",
    )
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_by: Mapped[str | None] = mapped_column(
        String(200), comment="the reviewing body, e.g. Sở Công Thương Thành phố Hà Nội"
    )
    withdrawn_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="verification withdrawn: its stamps issued from then on are invalid"
    )
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(30))
    website: Mapped[str | None] = mapped_column(String(300))
    address_street: Mapped[str | None] = mapped_column(String(300))
    address_commune: Mapped[str | None] = mapped_column(
        String(120), comment="xã/phường/đặc khu since 1 July 2025"
    )
    province_code: Mapped[str | None] = mapped_column(
        String(40), comment="slug of one of the 34 provinces (data/vn-provinces-2025.csv)"
    )
    cluster_name: Mapped[str | None] = mapped_column(
        String(200), comment="industrial park or cluster it operates in"
    )
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("clusters.id"),
        index=True,
        comment="its park or cluster in the register; cluster_name then repeats its name",
    )
    logo: Mapped[str | None] = mapped_column(String(80), comment="file name in uploads/")
    policy_max_scans: Mapped[int | None] = mapped_column(
        Integer, comment="copy detection: checks before a stamp looks copied (default 20)"
    )
    policy_max_speed_kmh: Mapped[int | None] = mapped_column(
        Integer, comment="copy detection: fastest plausible travel between checks (default 300)"
    )
    policy_max_clients: Mapped[int | None] = mapped_column(
        Integer, comment="copy detection: distinct clients before a stamp looks copied (default 10)"
    )
    policy_after_claim: Mapped[int | None] = mapped_column(
        Integer, comment="copy detection: checks by others allowed after the PIN claim (default 2)"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VerificationRequest(Base):
    """A business asking a reviewer to check its identity, with its documents."""

    __tablename__ = "verification_requests"
    __table_args__ = (Index("ix_verification_requests_status", "status", "submitted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    status: Mapped[str] = mapped_column(
        String(12), comment="pending, approved, rejected or cancelled (a newer request)"
    )
    name: Mapped[str] = mapped_column(String(200), comment="the name shown to shoppers")
    legal_name: Mapped[str] = mapped_column(String(300))
    tax_code: Mapped[str] = mapped_column(String(14))
    address_street: Mapped[str] = mapped_column(String(300), comment="registered address")
    address_commune: Mapped[str | None] = mapped_column(String(120))
    province_code: Mapped[str] = mapped_column(String(40))
    legal_representative: Mapped[str] = mapped_column(String(120))
    gs1_prefixes: Mapped[str | None] = mapped_column(
        String(400), comment="comma-separated GS1 company prefixes claimed"
    )
    registration_document: Mapped[str] = mapped_column(
        String(80), comment="private upload: the business registration certificate (GCN ĐKDN)"
    )
    gs1_document: Mapped[str | None] = mapped_column(
        String(80), comment="private upload: the GS1 Vietnam membership certificate"
    )
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(
        String(200), comment="who decided: official:<id> or operator:<login>"
    )
    decision_reason: Mapped[str | None] = mapped_column(Text, comment="shown to the business")


class Gs1Prefix(Base):
    """A GS1 company prefix a reviewer recorded for a verified business: its GTINs."""

    __tablename__ = "gs1_prefixes"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(12), unique=True, comment="6 to 12 digits")
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GtinOwner(Base):
    """Which verified business a GTIN belongs to: the first to use it, under its prefixes."""

    __tablename__ = "gtin_owners"

    gtin: Mapped[str] = mapped_column(String(14), primary_key=True, comment="GTIN-14")
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdentityAlert(Base):
    """Something a reviewer should look at: a claim on another business's identity."""

    __tablename__ = "identity_alerts"
    __table_args__ = (Index("ix_identity_alerts_open", "resolved_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(
        String(24), comment="tax_code_taken, gtin_taken, gtin_outside_prefixes, prefix_taken"
    )
    business_id: Mapped[int] = mapped_column(
        ForeignKey("businesses.id"), index=True, comment="the business that made the claim"
    )
    other_business_id: Mapped[int | None] = mapped_column(
        ForeignKey("businesses.id"), comment="whose identity it claimed"
    )
    detail: Mapped[str] = mapped_column(String(300), comment="the tax code, GTIN or prefix")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class Cluster(Base):
    """An industrial park (khu công nghiệp) or cluster (cụm công nghiệp) in the register the
    authority keeps; businesses pick theirs from it."""

    __tablename__ = "clusters"
    __table_args__ = (UniqueConstraint("province_code", "name", name="uq_clusters_province_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), comment="e.g. Cụm công nghiệp Phú Thị")
    kind: Mapped[str] = mapped_column(
        String(8), comment="park (khu công nghiệp) or cluster (cụm công nghiệp)"
    )
    province_code: Mapped[str] = mapped_column(String(40), index=True)
    commune: Mapped[str | None] = mapped_column(
        String(120), comment="xã/phường it lies in, since 1 July 2025"
    )
    area_ha: Mapped[float | None] = mapped_column(Float, comment="planned area in hectares")
    status: Mapped[str] = mapped_column(String(12), comment="founded, building or operating")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, comment="stored lower-case")
    password_hash: Mapped[str | None] = mapped_column(
        String(200), comment="argon2id; NULL until the person sets a password"
    )
    role: Mapped[str] = mapped_column(String(16), comment="owner or staff")
    name: Mapped[str | None] = mapped_column(String(120))
    session_version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", comment="bumped to sign out every session"
    )
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), comment="first characters, to recognise it")
    key_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), unique=True, comment="SHA-256 of the whole key; the key is shown once"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Base):
    """A business's Ed25519 key. Private halves live encrypted in the instance key store."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    kid: Mapped[bytes] = mapped_column(LargeBinary(4), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16), comment="active (signs) or retired (verifies)")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    compromised_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="stamps it signed from this time on verify as invalid"
    )
    compromise_reason: Mapped[str | None] = mapped_column(Text)
    certificate: Mapped[str | None] = mapped_column(
        Text, comment="JWS by the operator's root key over this key's facts (docs/keys.md)"
    )
    purpose: Mapped[str] = mapped_column(
        String(8),
        default="live",
        server_default="live",
        comment="live (stamps for goods) or test (an unverified business's test stamps)",
    )
    withdrawn_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="its business's verification withdrawn from this time on"
    )
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        Index(
            "uq_products_business_gtin",
            "business_id",
            "gtin",
            unique=True,
            sqlite_where=text("gtin IS NOT NULL"),
            postgresql_where=text("gtin IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    gtin: Mapped[str | None] = mapped_column(String(14), comment="GTIN-14, check digit verified")
    description: Mapped[str | None] = mapped_column(Text)
    brand: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(200))
    origin: Mapped[str | None] = mapped_column(String(200), comment="xuất xứ, as on the label")
    standards: Mapped[str | None] = mapped_column(Text, comment="tiêu chuẩn áp dụng")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("product_id", "lot", name="uq_batches_product_lot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(
        ForeignKey("businesses.id"), index=True, comment="copied from the product for tenancy"
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    lot: Mapped[str] = mapped_column(String(20), comment="GS1 AI (10): CSET 82, at most 20")
    production_date: Mapped[date | None] = mapped_column(Date, comment="NSX")
    expiry_date: Mapped[date | None] = mapped_column(Date, comment="HSD")
    quantity: Mapped[int | None] = mapped_column(Integer)
    facility: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    requires_activation: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default=false(),
        comment="new stamps start inactive, so stolen blank stamps verify as inactive",
    )
    with_pin: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), comment="stamps carry a scratch-off PIN"
    )
    stamp_format: Mapped[int] = mapped_column(
        Integer,
        default=1,
        server_default="1",
        comment="stamp format version of the batch's stamps: 1, or 2 (GS1 Digital Link)",
    )
    recalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recall_reason: Mapped[str | None] = mapped_column(Text, comment="shown to the public")
    flagged_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, comment="blacklisted by an inspector: every stamp looks suspicious"
    )
    flag_reason: Mapped[str | None] = mapped_column(Text)
    stamps_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stamps_active: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stamps_revoked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Stamp(Base):
    """One issued stamp. The code in its QR is rebuilt from kid, serial and signature."""

    __tablename__ = "stamps"
    __table_args__ = (UniqueConstraint("batch_id", "seq", name="uq_stamps_batch_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    signing_key_id: Mapped[int] = mapped_column(ForeignKey("signing_keys.id"))
    seq: Mapped[int] = mapped_column(Integer, comment="1, 2, … in issue order within the batch")
    serial: Mapped[bytes] = mapped_column(LargeBinary(10), unique=True, comment="80 random bits")
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    issued_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime,
        comment="when it was signed (stamps from before 0008: an upper bound); "
        "decides which stamps a compromised key leaves valid",
    )
    active: Mapped[bool] = mapped_column(Boolean)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    scan_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    independent_checks: Mapped[int] = mapped_column(
        Integer,
        default=0,
        server_default="0",
        comment="checks the copy rules count: a client's repeats within 10 minutes once",
    )
    first_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_scan_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pin_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(16), comment="keyed hash of the scratch-off PIN; the PIN itself is not stored"
    )
    pin_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pin_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="first buyer's PIN")
    claimed_by: Mapped[bytes | None] = mapped_column(
        LargeBinary(16), comment="keyed hash of the claiming client's address"
    )
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, comment="inspector blacklist")
    flag_reason: Mapped[str | None] = mapped_column(Text)


class Scan(Base):
    """One verification, of any text: invalid and unregistered scans are kept for alarms."""

    __tablename__ = "scans"
    __table_args__ = (
        Index("ix_scans_stamp_time", "stamp_id", "scanned_at"),
        Index("ix_scans_business_time", "business_id", "scanned_at"),
        Index(
            "ix_scans_business_warnings",
            "business_id",
            "id",
            sqlite_where=text("status <> 'genuine'"),
            postgresql_where=text("status <> 'genuine'"),
        ),
        # Checks no business is behind (forged codes): not in scan_daily, so the
        # authority's hot spots read them through this small index.
        Index(
            "ix_scans_unattributed_time",
            "scanned_at",
            sqlite_where=text("business_id IS NULL"),
            postgresql_where=text("business_id IS NULL"),
        ),
        # Signs of counterfeits, for the evidence behind the authority's hot spots: a few
        # percent of all checks, so genuine checks pay nothing for it.
        Index(
            "ix_scans_warnings_time",
            "scanned_at",
            sqlite_where=text("status IN ('suspicious', 'invalid', 'unregistered')"),
            postgresql_where=text("status IN ('suspicious', 'invalid', 'unregistered')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stamp_id: Mapped[int | None] = mapped_column(ForeignKey("stamps.id"))
    business_id: Mapped[int | None] = mapped_column(ForeignKey("businesses.id"))
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[str] = mapped_column(String(200), comment="comma-separated reason codes")
    channel: Mapped[str] = mapped_column(String(8), comment="page or api")
    kid: Mapped[bytes | None] = mapped_column(LargeBinary(4), comment="for unregistered alarms")
    serial: Mapped[bytes | None] = mapped_column(LargeBinary(10))
    province_code: Mapped[str | None] = mapped_column(String(40))
    lat: Mapped[float | None] = mapped_column(
        Float, comment="latitude rounded to 0.1 degree, only with the shopper's consent"
    )
    lon: Mapped[float | None] = mapped_column(Float)
    ip_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(16), comment="keyed hash of the client address, never the address"
    )
    device: Mapped[str | None] = mapped_column(String(16), comment="coarse device family")
    claimed_business_id: Mapped[int | None] = mapped_column(
        ForeignKey("businesses.id"),
        comment="a forged code (bad signature): the business its key id names; "
        "business_id stays empty, it is not that business's check",
    )


class ProductImage(Base):
    """A product photo, re-encoded on upload (metadata stripped), served publicly."""

    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    filename: Mapped[str] = mapped_column(
        String(80), unique=True, comment="random name in uploads/"
    )
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Certification(Base):
    """A certificate a product holds: OCOP, VietGAP, ISO 22000 …, with its validity."""

    __tablename__ = "certifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    number: Mapped[str | None] = mapped_column(String(100), comment="certificate number")
    issuer: Mapped[str | None] = mapped_column(String(200))
    grade: Mapped[str | None] = mapped_column(String(20), comment="e.g. OCOP stars")
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Job(Base):
    """Long work (issuing many stamps) run in the background, with progress to poll."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_business_created", "business_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), comment="queued, running, done, failed")
    done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    params: Mapped[str] = mapped_column(Text, comment="JSON")
    result: Mapped[str | None] = mapped_column(Text, comment="JSON")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScanDaily(Base):
    """Scans counted per business, day (Vietnam time), verdict and province.

    Kept up to date by the verification path (one upsert per scan), so dashboards read a
    few hundred rows instead of counting millions of scans.
    """

    __tablename__ = "scan_daily"
    # The authority's dashboards read a period across many businesses. The upsert only
    # changes count, so this index is written once per new row, not once per scan.
    __table_args__ = (Index("ix_scan_daily_day", "day"),)

    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    province_code: Mapped[str] = mapped_column(
        String(40), primary_key=True, comment="empty when the shopper gave no place"
    )
    count: Mapped[int] = mapped_column(Integer)


class ForgedDaily(Base):
    """Forged codes (a bad signature) naming a business's key id, per day (Vietnam time)
    and province. Kept apart from scan_daily: they are not that business's checks, and
    never count in its figures or in its area's counterfeit hot spots."""

    __tablename__ = "forged_daily"

    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    province_code: Mapped[str] = mapped_column(
        String(40), primary_key=True, comment="empty when the shopper gave no place"
    )
    count: Mapped[int] = mapped_column(Integer)


class Report(Base):
    """A shopper's report of a suspected fake, with where they bought it."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_business_created", "business_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stamp_id: Mapped[int | None] = mapped_column(ForeignKey("stamps.id"), index=True)
    business_id: Mapped[int | None] = mapped_column(ForeignKey("businesses.id"))
    scanned_text: Mapped[str | None] = mapped_column(
        String(300), comment="what was scanned, for codes that are not ours"
    )
    status_at_report: Mapped[str] = mapped_column(String(16))
    shop_name: Mapped[str | None] = mapped_column(String(200))
    shop_address: Mapped[str | None] = mapped_column(String(300))
    province_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(80), comment="re-encoded, in uploads/")
    contact: Mapped[str | None] = mapped_column(
        String(200), comment="only if the shopper gives one"
    )
    ip_hash: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))


class Official(Base):
    """A market inspector or an authority officer: not part of any business."""

    __tablename__ = "officials"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16), comment="inspector or authority")
    provinces: Mapped[str | None] = mapped_column(
        String(400), comment="comma-separated province codes this person covers; empty: all"
    )
    password_hash: Mapped[str | None] = mapped_column(String(200))
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Case(Base):
    """An inspector's investigation: stamps, batches and reports with notes and photos."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), comment="open or closed")
    opened_by: Mapped[int] = mapped_column(ForeignKey("officials.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)


class CaseItem(Base):
    """A stamp or a batch a case is about."""

    __tablename__ = "case_items"
    __table_args__ = (UniqueConstraint("case_id", "stamp_id", "batch_id", name="uq_case_items"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    stamp_id: Mapped[int | None] = mapped_column(ForeignKey("stamps.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseNote(Base):
    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"))
    text: Mapped[str | None] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceKey(Base):
    """The service's own Ed25519 keys: they sign case files (and certify business keys)."""

    __tablename__ = "service_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[bytes] = mapped_column(LargeBinary(4), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    purpose: Mapped[str] = mapped_column(String(32), comment="documents: case files, reports")
    status: Mapped[str] = mapped_column(String(16), comment="active or retired")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Flag(Base):
    """An inspector's flag on a stamp or batch: who, when, why; lifted flags are kept."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    stamp_id: Mapped[int | None] = mapped_column(ForeignKey("stamps.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))


class Facility(Base):
    """A place a business works at: farm, factory, warehouse, shop."""

    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(40), comment="farm, factory, warehouse, shop …")
    address: Mapped[str | None] = mapped_column(String(300))
    province_code: Mapped[str | None] = mapped_column(String(40))
    gln: Mapped[str | None] = mapped_column(String(13), comment="GS1 Global Location Number")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TraceEventRecord(Base):
    """One trace event on a batch (CBV business step, time with its offset, place, parties).

    The batch is the lot the event is about (the output of a transformation). Events may be
    recorded by another business than the batch's owner: the partners it was shipped to.
    """

    __tablename__ = "trace_events"
    __table_args__ = (Index("ix_trace_events_batch_time", "batch_id", "event_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_uuid: Mapped[str] = mapped_column(
        String(200), unique=True, comment="urn:uuid:… (EPCIS eventID)"
    )
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"), comment="who recorded it")
    kind: Mapped[str] = mapped_column(String(24), comment="ObjectEvent or TransformationEvent")
    action: Mapped[str | None] = mapped_column(String(8))
    biz_step: Mapped[str] = mapped_column(String(40))
    disposition: Mapped[str | None] = mapped_column(String(40))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    time_zone: Mapped[str] = mapped_column(String(6), comment="the offset it happened at: +07:00")
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    place_text: Mapped[str | None] = mapped_column(String(300), comment="a place outside TraceQR")
    place_gln: Mapped[str | None] = mapped_column(String(13))
    source_business_id: Mapped[int | None] = mapped_column(ForeignKey("businesses.id"))
    source_text: Mapped[str | None] = mapped_column(String(300), comment="a sender outside TraceQR")
    destination_business_id: Mapped[int | None] = mapped_column(ForeignKey("businesses.id"))
    destination_text: Mapped[str | None] = mapped_column(String(300))
    quantity: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(8), comment="UN/ECE Rec 20: KGM, EA …")
    note: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(12), comment="portal, api, csv, epcis, shipment")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TraceEventInput(Base):
    """An input of a transformation: a TraceQR batch, or a lot from outside (GTIN + lot)."""

    __tablename__ = "trace_event_inputs"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("trace_events.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    gtin: Mapped[str | None] = mapped_column(String(14))
    lot: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(300))
    quantity: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(8))


class Shipment(Base):
    """A batch sent to a partner business on TraceQR: accepted, it becomes their receiving
    event, and the chain crosses businesses."""

    __tablename__ = "shipments"
    __table_args__ = (Index("ix_shipments_to_status", "to_business_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    from_business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    to_business_id: Mapped[int] = mapped_column(ForeignKey("businesses.id"))
    status: Mapped[str] = mapped_column(String(12), comment="sent, accepted, refused")
    quantity: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(8))
    shipping_event_id: Mapped[int] = mapped_column(ForeignKey("trace_events.id"))
    receiving_event_id: Mapped[int | None] = mapped_column(ForeignKey("trace_events.id"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """One entry of the append-only, hash-chained audit log (docs/audit.md).

    ``hash`` is SHA-256 over the entry's canonical bytes, which include ``prev_hash``: a
    changed or removed entry breaks every hash after it. Never updated, never deleted.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, comment="1, 2, … without gaps")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_kind: Mapped[str] = mapped_column(
        String(16), comment="user, official, api_key, operator (CLI) or system"
    )
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40), comment="e.g. stamps.issue, key.compromise")
    subject: Mapped[str] = mapped_column(String(120), comment="kind:id, e.g. batch:12")
    details: Mapped[str] = mapped_column(Text, comment="canonical JSON")
    prev_hash: Mapped[str] = mapped_column(String(64), comment="hex; 64 zeros for seq 1")
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The audit log's newest entry: one row, locked by each append so that concurrent
    transactions chain one after another."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
