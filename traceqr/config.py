"""Configuration: defaults, then the instance folder, then ``TRACEQR_*`` variables.

Everything is read once, in :func:`load_settings`, and checked there: a bad value stops
the service at start with a message naming the variable, not at the first request.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from traceqr.domain.stamp_format import normalize_public_url
from traceqr.errors import ConfigError

DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"
SQLITE_FILENAME = "traceqr.sqlite3"


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    public_url: str  # normalized: scheme and host upper case, no trailing slash
    rate_limits_enabled: bool = True
    rate_limit_storage: str = "memory://"
    secret_key: str = ""
    master_keys: tuple[str, ...] = ()  # from TRACEQR_MASTER_KEYS; else instance/master.key
    trust_proxy: int = 0  # how many reverse proxies set X-Forwarded-* in front of us
    # Distinct stamps checked per client (IPv4 address or IPv6 /64): sized for carrier NAT,
    # see traceqr/web/ratelimit.py (VerifyGuard) and docs/security.md.
    verify_rate_limit: str = "300 per minute; 3000 per hour"
    # Checks of one stamp by one client (reloads, languages, journey pages).
    verify_repeat_rate_limit: str = "60 per minute; 600 per hour"
    api_rate_limit: str = "600 per minute"
    login_rate_limit: str = "10 per minute; 50 per hour"
    pin_rate_limit: str = "5 per minute; 20 per hour"
    report_rate_limit: str = "5 per minute; 30 per day"
    # Wrong or revoked API keys, per client address (a right key is limited by api_rate_limit).
    api_auth_failure_rate_limit: str = "30 per minute; 300 per hour"
    # PIN attempts on one stamp, from any number of clients (pin_rate_limit is per client).
    pin_stamp_rate_limit: str = "10 per hour; 30 per day"
    rate_limit_prefix: str = "traceqr"  # key prefix in the rate-limit store (shared Redis)
    # A sign-in lasts this long however busy it is (a working day); then sign in again.
    session_lifetime_hours: int = 12
    max_stamps_per_request: int = 100_000
    max_events_per_batch: int = 2000  # trace events (steps) one batch holds: see traceability
    max_inputs_per_event: int = 50  # input lots of one transforming step
    smtp_url: str | None = None
    scan_retention_days: int = 180  # then a check keeps its verdict and province, not its client
    address_hash_rotation: str = "never"  # never, monthly or daily: see docs/privacy.md
    max_upload_bytes: int = 5 * 1024 * 1024
    copy_detection: bool = True  # off only to measure what it costs (benchmarks)
    queue_url: str | None = None  # redis://… runs long jobs on an RQ queue; else in process
    queue_name: str = "traceqr"
    # Bounded work (docs/operations.md, "Bounded work and quotas"); 0 means no limit.
    sync_sheet_max_stamps: int = 20_000  # a larger sheet is a background job (413 otherwise)
    max_jobs_per_business: int = 3  # queued or running at once
    max_stamps_per_business_day: int = 1_000_000  # issued per Vietnam day (00:00 ICT)
    max_sheet_files_per_business: int = 20  # sheet files kept (or being written) at once
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def keystore_path(self) -> Path:
        return self.instance_path / "keystore"

    @property
    def uploads_path(self) -> Path:
        return self.instance_path / "uploads"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"off", "0", "false", "no"}:
        return False
    if lowered in {"on", "1", "true", "yes", ""}:
        return True
    raise ConfigError(f"{name} must be on or off, not {value!r}")


RATE_LIMIT_KINDS = (
    "verify",
    "verify_repeat",
    "api",
    "api_auth_failure",
    "login",
    "pin",
    "pin_stamp",
    "report",
)


def _rate_limit_settings(env: dict[str, str]) -> dict[str, str]:
    """``TRACEQR_<KIND>_RATE_LIMIT`` as ``"60 per minute; 600 per hour"``, checked at start."""
    from limits import parse_many

    found: dict[str, str] = {}
    for kind in RATE_LIMIT_KINDS:
        name = f"TRACEQR_{kind.upper()}_RATE_LIMIT"
        value = env.get(name, "").strip()
        if not value:
            continue
        try:
            parse_many(value)
        except ValueError as exc:
            raise ConfigError(
                f"{name} must read like '60 per minute; 600 per hour', not {value!r}"
            ) from exc
        found[f"{kind}_rate_limit"] = value
    prefix = env.get("TRACEQR_RATE_LIMIT_PREFIX", "").strip()
    if prefix:
        found["rate_limit_prefix"] = prefix
    return found


def _session_settings(env: dict[str, str]) -> dict[str, Any]:
    """``TRACEQR_SESSION_LIFETIME_HOURS``: 1 to 24 (a session is one working day at most)."""
    value = env.get("TRACEQR_SESSION_LIFETIME_HOURS", "").strip()
    if not value:
        return {}
    if not value.isdigit() or not 1 <= int(value) <= 24:
        raise ConfigError(f"TRACEQR_SESSION_LIFETIME_HOURS must be 1 to 24 hours, not {value!r}")
    return {"session_lifetime_hours": int(value)}


LIMIT_SETTINGS = {
    "sync_sheet_max_stamps": "TRACEQR_SYNC_SHEET_MAX_STAMPS",
    "max_jobs_per_business": "TRACEQR_MAX_JOBS_PER_BUSINESS",
    "max_stamps_per_business_day": "TRACEQR_MAX_STAMPS_PER_BUSINESS_DAY",
    "max_sheet_files_per_business": "TRACEQR_MAX_SHEET_FILES_PER_BUSINESS",
}


def _limit_settings(env: dict[str, str]) -> dict[str, int]:
    """The work bounds and per-business quotas: whole numbers, 0 for no limit."""
    found: dict[str, int] = {}
    for setting, name in LIMIT_SETTINGS.items():
        value = env.get(name, "").strip().replace("_", "")
        if not value:
            continue
        if not value.isdigit() or len(value) > 12:
            raise ConfigError(f"{name} must be a whole number (0 for no limit), not {value!r}")
        found[setting] = int(value)
    return found


def read_or_create_secret(path: Path, make: Any) -> str:
    """Read a secret file from the instance folder, creating it (mode 0600) the first time."""
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        # Two processes starting at once: the first link wins, the other reads it.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip()


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    env = dict(os.environ if environ is None else environ)
    overrides = dict(overrides or {})

    instance_path = Path(
        overrides.pop("instance_path", None) or env.get("TRACEQR_INSTANCE") or "instance"
    ).resolve()
    instance_path.mkdir(parents=True, exist_ok=True)

    database_url = (
        overrides.pop("database_url", None)
        or env.get("TRACEQR_DATABASE_URL")
        or f"sqlite:///{instance_path / SQLITE_FILENAME}"
    )
    if database_url.startswith("postgres://") or database_url.startswith("postgresql://"):
        # The driver TraceQR ships is psycopg 3.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]

    raw_public_url = (
        overrides.pop("public_url", None) or env.get("TRACEQR_PUBLIC_URL") or DEFAULT_PUBLIC_URL
    )
    try:
        public_url = normalize_public_url(raw_public_url)
    except ValueError as exc:
        raise ConfigError(f"TRACEQR_PUBLIC_URL: {exc}") from exc

    rate_limits_enabled = overrides.pop("rate_limits_enabled", None)
    if rate_limits_enabled is None:
        rate_limits_enabled = _flag("TRACEQR_RATE_LIMITS", env.get("TRACEQR_RATE_LIMITS", "on"))

    secret_key = (
        overrides.pop("secret_key", None)
        or env.get("TRACEQR_SECRET_KEY")
        or read_or_create_secret(instance_path / "secret.key", lambda: secrets.token_urlsafe(32))
    )
    master_keys = tuple(
        k.strip() for k in env.get("TRACEQR_MASTER_KEYS", "").split(",") if k.strip()
    )

    try:
        trust_proxy = int(env.get("TRACEQR_TRUST_PROXY", "0"))
    except ValueError as exc:
        raise ConfigError("TRACEQR_TRUST_PROXY must be a number of proxies (0, 1, …)") from exc

    try:
        retention = int(env.get("TRACEQR_SCAN_RETENTION_DAYS", "180"))
    except ValueError as exc:
        raise ConfigError("TRACEQR_SCAN_RETENTION_DAYS must be a number of days") from exc
    if retention < 1:
        raise ConfigError("TRACEQR_SCAN_RETENTION_DAYS must be at least 1")
    rotation = env.get("TRACEQR_ADDRESS_HASH_ROTATION", "never").strip().lower()
    if rotation not in ("never", "monthly", "daily"):
        raise ConfigError("TRACEQR_ADDRESS_HASH_ROTATION must be never, monthly or daily")

    settings = Settings(
        instance_path=instance_path,
        database_url=database_url,
        public_url=public_url,
        rate_limits_enabled=bool(rate_limits_enabled),
        rate_limit_storage=env.get("TRACEQR_REDIS_URL", "memory://"),
        secret_key=secret_key,
        master_keys=master_keys,
        trust_proxy=trust_proxy,
        smtp_url=env.get("TRACEQR_SMTP_URL") or None,
        scan_retention_days=retention,
        address_hash_rotation=rotation,
        copy_detection=_flag("TRACEQR_COPY_DETECTION", env.get("TRACEQR_COPY_DETECTION", "on")),
        queue_url=env.get("TRACEQR_QUEUE_URL") or None,
        queue_name=env.get("TRACEQR_QUEUE_NAME") or "traceqr",
    )
    settings = replace(settings, **_rate_limit_settings(env), **_session_settings(env))
    settings = replace(settings, **_limit_settings(env))
    known = {f for f in Settings.__dataclass_fields__}
    direct = {k: v for k, v in overrides.items() if k in known}
    extra = {k: v for k, v in overrides.items() if k not in known}
    return replace(settings, **direct, extra={**settings.extra, **extra})
