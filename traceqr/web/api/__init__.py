"""The JSON API under /api/v1 (see ../shared/CONTRACT.md and /api/v1/openapi.json)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("api", __name__)

from traceqr.web.api import trace_views, views  # noqa: E402, F401 - registers the routes
