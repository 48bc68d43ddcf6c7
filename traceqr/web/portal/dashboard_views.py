"""The dashboard: stamps issued, scans per day, scans by province, latest warnings."""

from __future__ import annotations

from dataclasses import dataclass

from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.provinces import province
from traceqr.services import dashboard as dashboard_service
from traceqr.services import identity
from traceqr.services.businesses import get_business
from traceqr.services.jobs import recent_jobs
from traceqr.web.context import db_session, now, state
from traceqr.web.portal import blueprint
from traceqr.web.portal.support import business_id, business_login_required

CHART_WIDTH, CHART_HEIGHT = 600, 160


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    height: float
    warn_height: float
    label: str
    count: int
    warnings: int


def chart_bars(days: list[dashboard_service.DayCount]) -> tuple[list[Bar], int]:
    """Bars for an SVG chart drawn by the template: no script, no library."""
    peak = max((d.count for d in days), default=0) or 1
    slot = CHART_WIDTH / max(len(days), 1)
    bars = [
        Bar(
            x=i * slot + slot * 0.1,
            width=slot * 0.8,
            height=CHART_HEIGHT * d.count / peak,
            warn_height=CHART_HEIGHT * d.warnings / peak,
            label=d.day.strftime("%d/%m"),
            count=d.count,
            warnings=d.warnings,
        )
        for i, d in enumerate(days)
    ]
    return bars, peak


@blueprint.get("/")
@business_login_required
def dashboard() -> str:
    state().jobs.fail_orphans(business_id())  # recent jobs: a dead one shows as failed
    today = now().astimezone(VIETNAM_TZ).date()
    data = dashboard_service.dashboard(db_session(), business_id(), today)
    bars, peak = chart_bars(data.days)
    provinces = [(province(code), count) for code, count in data.provinces]
    return render_template(
        "portal/dashboard.html",
        data=data,
        bars=bars,
        peak=peak,
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        provinces=provinces,
        jobs=recent_jobs(db_session(), business_id()),
        business=get_business(db_session(), business_id()),
        verification_request=identity.latest_request(db_session(), business_id()),
    )


@blueprint.get("/home")
def home_redirect() -> Response:
    return redirect(url_for("portal.dashboard"))
