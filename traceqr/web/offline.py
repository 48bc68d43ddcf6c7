"""The offline verifier: an installable page inspectors load once, then use with no network."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("offline", __name__, url_prefix="/inspect/offline")
