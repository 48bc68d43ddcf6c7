"""What one running service holds: settings, the database, the key store, the verifier.

Built once per process by the app factory or the CLI; services receive the pieces they
need as arguments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from traceqr.config import Settings, read_or_create_secret
from traceqr.db import Database
from traceqr.domain.pins import PinScheme
from traceqr.keystore import KeyStore
from traceqr.mail import Mailer
from traceqr.services.jobs import JobRunner, QueueJobRunner
from traceqr.services.verification import VerificationService

if TYPE_CHECKING:
    from flask import Flask


JOB_MAX_STAMPS = 1_000_000


def load_pin_key(settings: Settings) -> bytes:
    """The secret PINs derive from: TRACEQR_PIN_KEY, else instance/pin.key (created once).

    It must never change once PINs are printed: back it up with the key store.
    """
    import os
    import secrets

    text = os.environ.get("TRACEQR_PIN_KEY") or read_or_create_secret(
        settings.instance_path / "pin.key", lambda: secrets.token_hex(32)
    )
    return hashlib.sha256(b"traceqr-pin-key:" + text.encode()).digest()


def utcnow() -> datetime:
    """The one place the service reads the clock; everything below takes ``now``."""
    return datetime.now(UTC)


@dataclass
class AppState:
    settings: Settings
    database: Database
    keystore: KeyStore
    verifier: VerificationService
    jobs: JobRunner | QueueJobRunner
    mailer: Mailer
    pins: PinScheme

    @classmethod
    def create(cls, settings: Settings) -> AppState:
        database = Database(settings.database_url)
        address_salt = hashlib.sha256(
            b"traceqr-client-address:" + settings.secret_key.encode()
        ).digest()
        keystore = KeyStore.from_settings(settings)
        pins = PinScheme(load_pin_key(settings))
        return cls(
            settings=settings,
            database=database,
            keystore=keystore,
            verifier=VerificationService(
                database,
                settings.public_url,
                address_salt,
                address_rotation=settings.address_hash_rotation,
                copy_detection=settings.copy_detection,
            ),
            jobs=QueueJobRunner(database, settings.queue_url, settings.queue_name)
            if settings.queue_url
            else JobRunner(database, keystore, pins, JOB_MAX_STAMPS, settings),
            mailer=Mailer(settings.smtp_url),
            pins=pins,
        )

    def init_app(self, app: Flask) -> None:
        app.extensions["traceqr"] = self

    @staticmethod
    def of(app: Flask) -> AppState:
        state: AppState = app.extensions["traceqr"]
        return state


_worker_state: AppState | None = None


def worker_state() -> AppState:
    """The state a queue worker process runs jobs with, from its ``TRACEQR_*`` settings."""
    global _worker_state
    if _worker_state is None:
        from traceqr.config import load_settings

        _worker_state = AppState.create(load_settings())
    return _worker_state
