"""What one running service holds: settings, the database, the key store, the verifier.

Built once per process by the app factory or the CLI; services receive the pieces they
need as arguments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from traceqr.config import Settings
from traceqr.db import Database
from traceqr.keystore import KeyStore
from traceqr.mail import Mailer
from traceqr.services.jobs import JobRunner
from traceqr.services.verification import VerificationService

if TYPE_CHECKING:
    from flask import Flask


JOB_MAX_STAMPS = 1_000_000


def utcnow() -> datetime:
    """The one place the service reads the clock; everything below takes ``now``."""
    return datetime.now(UTC)


@dataclass
class AppState:
    settings: Settings
    database: Database
    keystore: KeyStore
    verifier: VerificationService
    jobs: JobRunner
    mailer: Mailer

    @classmethod
    def create(cls, settings: Settings) -> AppState:
        database = Database(settings.database_url)
        address_salt = hashlib.sha256(
            b"traceqr-client-address:" + settings.secret_key.encode()
        ).digest()
        keystore = KeyStore.from_settings(settings)
        return cls(
            settings=settings,
            database=database,
            keystore=keystore,
            verifier=VerificationService(database, settings.public_url, address_salt),
            jobs=JobRunner(database, keystore, max_stamps=JOB_MAX_STAMPS),
            mailer=Mailer(settings.smtp_url),
        )

    def init_app(self, app: Flask) -> None:
        app.extensions["traceqr"] = self

    @staticmethod
    def of(app: Flask) -> AppState:
        state: AppState = app.extensions["traceqr"]
        return state
