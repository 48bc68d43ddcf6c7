"""Authority pages: sign-in, the overview of its provinces, a dashboard per province and per
cluster, counterfeit hot spots with the evidence behind each figure, CSV and PDF exports."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from traceqr.domain.charts import chart_svg, stacked_bars
from traceqr.domain.dates import VIETNAM_TZ
from traceqr.errors import NotFound, ValidationError
from traceqr.services import authority as svc
from traceqr.services import clusters as register
from traceqr.services.authority_pdf import ReportChart, ReportTable, authority_report_pdf
from traceqr.services.officials import authenticate_official, sign_out
from traceqr.web.authority import authority_required, blueprint, scope
from traceqr.web.authority.tables import (
    DataTable,
    businesses_table,
    clusters_table,
    communes_table,
    csv_download,
    evidence_tables,
    hot_spot_tables,
    province_label,
    timeline_table,
)
from traceqr.web.context import db_session, now
from traceqr.web.downloads import file_bytes_response, safe_filename
from traceqr.web.i18n import current_language, number, vn_date
from traceqr.web.i18n import gettext as _
from traceqr.web.inspector.views import LoginForm
from traceqr.web.portal.auth_views import safe_next
from traceqr.web.portal.support import OfficialUser, translated
from traceqr.web.ratelimit import limited

# --- signing in ------------------------------------------------------------------------------


@blueprint.route("/login", methods=["GET", "POST"])
@limited("login")
def login() -> Response | str:
    form = LoginForm()
    if form.validate_on_submit():
        official = authenticate_official(
            db_session(), form.email.data or "", form.password.data or "", now()
        )
        if official is None or official.role != "authority":
            form.password.errors = [_("The e-mail or the password is not right.")]
        else:
            db_session().commit()
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            session.permanent = True
            login_user(OfficialUser(official))
            return redirect(safe_next(request.args.get("next"), "/authority", "authority.home"))
    return render_template("authority/login.html", form=form)


@blueprint.post("/logout")
def logout() -> Response:
    signed_in = current_user._get_current_object()
    if isinstance(signed_in, OfficialUser):
        sign_out(signed_in.official)  # every copy of the cookie ends, not only this one
        db_session().commit()
    logout_user()
    session.clear()
    return redirect(url_for("authority.login"))


# --- shared ----------------------------------------------------------------------------------


def _period() -> tuple[svc.Period, str | None]:
    """The period asked for (last 30 days by default) and an error to show, if any."""
    today = now().astimezone(VIETNAM_TZ).date()
    try:
        return svc.Period.parse(request.args.get("start"), request.args.get("end"), today), None
    except ValidationError as error:
        return svc.Period.last_days(today), translated(error)


def _series_names() -> list[str]:
    return [
        _("Genuine"),
        _("Revoked, recalled or inactive"),
        _("Suspicious, invalid or unregistered"),
    ]


def _charts(d: svc.AreaDashboard) -> list[ReportChart]:
    labels = [p.label for p in d.timeline]
    checks = stacked_bars(
        labels,
        [
            [p.genuine for p in d.timeline],
            [p.other for p in d.timeline],
            [p.bad for p in d.timeline],
        ],
    )
    issued = stacked_bars(labels, [[p.issued for p in d.timeline]], height=160)
    return [
        ReportChart(_("Checks by shoppers"), checks, _series_names()),
        ReportChart(_("Stamps issued"), issued, [_("Stamps issued")], ("#2f6db5",)),
    ]


def _svg(chart: ReportChart, css: str = "achart") -> Markup:
    return Markup(chart_svg(chart.chart, chart.title, chart.series, css))  # noqa: S704 - escaped


def _count_share(count: int, share: float) -> str:
    return f"{number(count)} ({number(round(share * 100, 1))} %)"


def _summary(d: svc.AreaDashboard) -> list[tuple[str, str]]:
    total = d.total
    return [
        (_("Businesses registered"), number(total.businesses)),
        (_("Businesses with stamps"), _count_share(total.adopters, total.adoption)),
        (_("Products with stamps"), number(total.products)),
        (_("Batches with stamps"), number(total.batches)),
        (_("Stamps issued"), number(total.stamps)),
        (_("Stamps issued in the period"), number(total.stamps_period)),
        (_("Checks in the period"), number(total.scans)),
        *(
            (label, _count_share(total.by_status.get(status, 0), total.share(status)))
            for label, status in (
                (_("Suspicious"), "suspicious"),
                (_("Invalid"), "invalid"),
                (_("Unregistered"), "unregistered"),
            )
        ),
        (_("Reports from shoppers"), number(total.reports)),
        (_("Inspector cases opened"), number(len(total.cases))),
    ]


def _period_text(period: svc.Period) -> str:
    return _("From %(start)s to %(end)s", start=vn_date(period.start), end=vn_date(period.end))


def _pdf(title: str, period: svc.Period, d: svc.AreaDashboard, tables: list[DataTable]) -> Response:
    body = authority_report_pdf(
        title=title,
        subtitle=_period_text(period),
        summary=_summary(d),
        charts=_charts(d),
        tables=[
            ReportTable(t.title, t.columns, [[c.text for c in row] for row in t.rows], t.empty)
            for t in tables
        ],
        footer=_("TraceQR report for the authority; figures from the checks shoppers made."),
        generated_at=now(),
    )
    name = f"{safe_filename(title)}-{period.start}-{period.end}-{current_language()}.pdf"
    return file_bytes_response(body, "application/pdf", name)


# --- overview --------------------------------------------------------------------------------


@blueprint.get("/")
@authority_required
def home() -> str:
    period, error = _period()
    rows = svc.scope_summary(db_session(), scope(), period)
    return render_template(
        "authority/home.html",
        period=period,
        period_error=error,
        rows=rows,
        province_label=province_label,
        national=scope().national,
    )


# --- a province's and a cluster's dashboard --------------------------------------------------


def _province_tables(code: str, d: svc.AreaDashboard, period: svc.Period) -> list[DataTable]:
    def csv(table: str) -> str:
        return url_for("authority.province_csv", code=code, table=table, **period.query())

    return [
        clusters_table(d, csv("clusters"), period),
        communes_table(d, csv("communes")),
        timeline_table(d, csv("timeline")),
    ]


def _province_dashboard(code: str) -> tuple[svc.Period, str | None, svc.AreaDashboard]:
    period, error = _period()
    try:
        d = svc.area_dashboard(db_session(), scope(), period, code)
    except NotFound:
        abort(404)
    return period, error, d


@blueprint.get("/p/<code>")
@authority_required
def province(code: str) -> str:
    period, error, d = _province_dashboard(code)
    charts = _charts(d)
    return render_template(
        "authority/dashboard.html",
        title=province_label(code),
        period=period,
        period_error=error,
        d=d,
        summary=_summary(d),
        charts=[(c, _svg(c)) for c in charts],
        tables=_province_tables(code, d, period),
        pdf_url=url_for(
            "authority.province_pdf", code=code, lang=current_language(), **period.query()
        ),
        hot_spots_url=url_for("authority.hot_spots", province=code, **period.query()),
        series_names=_series_names(),
    )


@blueprint.get("/p/<code>/<table>.csv")
@authority_required
def province_csv(code: str, table: str) -> Response:
    period, _error, d = _province_dashboard(code)
    for t in _province_tables(code, d, period):
        if t.key == table:
            return csv_download(t, f"{code}-{table}-{period.start}-{period.end}")
    abort(404)


@blueprint.get("/p/<code>/report.pdf")
@authority_required
def province_pdf(code: str) -> Response:
    period, _error, d = _province_dashboard(code)
    title = _("Stamps and counterfeits: %(area)s", area=province_label(code))
    return _pdf(title, period, d, _province_tables(code, d, period))


def _cluster_dashboard(cluster_id: int) -> tuple[svc.Period, str | None, svc.AreaDashboard]:
    period, error = _period()
    try:
        cluster = register.get_cluster(db_session(), cluster_id, scope().provinces)
    except NotFound:
        abort(404)
    d = svc.area_dashboard(db_session(), scope(), period, cluster.province_code, cluster.id)
    return period, error, d


def _cluster_tables(cluster_id: int, d: svc.AreaDashboard, period: svc.Period) -> list[DataTable]:
    def csv(table: str) -> str:
        return url_for(
            "authority.cluster_csv", cluster_id=cluster_id, table=table, **period.query()
        )

    return [
        businesses_table(d, csv("businesses")),
        communes_table(d, csv("communes")),
        timeline_table(d, csv("timeline")),
    ]


@blueprint.get("/clusters/<id:cluster_id>")
@authority_required
def cluster(cluster_id: int) -> str:
    period, error, d = _cluster_dashboard(cluster_id)
    assert d.cluster is not None
    charts = _charts(d)
    return render_template(
        "authority/dashboard.html",
        title=d.cluster.name,
        period=period,
        period_error=error,
        d=d,
        summary=_summary(d),
        charts=[(c, _svg(c)) for c in charts],
        tables=_cluster_tables(cluster_id, d, period),
        pdf_url=url_for(
            "authority.cluster_pdf",
            cluster_id=cluster_id,
            lang=current_language(),
            **period.query(),
        ),
        hot_spots_url=url_for("authority.evidence", cluster=cluster_id, **period.query()),
        series_names=_series_names(),
    )


@blueprint.get("/clusters/<id:cluster_id>/<table>.csv")
@authority_required
def cluster_csv(cluster_id: int, table: str) -> Response:
    period, _error, d = _cluster_dashboard(cluster_id)
    for t in _cluster_tables(cluster_id, d, period):
        if t.key == table:
            return csv_download(t, f"cluster{cluster_id}-{table}-{period.start}-{period.end}")
    abort(404)


@blueprint.get("/clusters/<id:cluster_id>/report.pdf")
@authority_required
def cluster_pdf(cluster_id: int) -> Response:
    period, _error, d = _cluster_dashboard(cluster_id)
    assert d.cluster is not None
    title = _("Stamps and counterfeits: %(area)s", area=d.cluster.name)
    return _pdf(title, period, d, _cluster_tables(cluster_id, d, period))


# --- hot spots and the evidence behind them --------------------------------------------------


def _hot_spots() -> tuple[svc.Period, str | None, str | None, svc.HotSpots]:
    period, error = _period()
    code = request.args.get("province") or None
    try:
        narrowed = scope().narrowed(code)
    except NotFound:
        abort(404)
    return period, error, code, svc.hot_spots(db_session(), narrowed, period)


def _hot_spot_tables(code: str | None, h: svc.HotSpots) -> list[DataTable]:
    def csv(table: str) -> str:
        extra: dict[str, Any] = {"province": code} if code else {}
        return url_for("authority.hot_spots_csv", table=table, **extra, **h.period.query())

    return hot_spot_tables(h, csv)


@blueprint.get("/hot-spots")
@authority_required
def hot_spots() -> str:
    period, error, code, h = _hot_spots()
    return render_template(
        "authority/hot_spots.html",
        period=period,
        period_error=error,
        province_code=code,
        provinces=scope().codes(),
        h=h,
        tables=_hot_spot_tables(code, h),
        province_label=province_label,
    )


@blueprint.get("/hot-spots/<table>.csv")
@authority_required
def hot_spots_csv(table: str) -> Response:
    period, _error, code, h = _hot_spots()
    for t in _hot_spot_tables(code, h):
        if t.key == table:
            return csv_download(t, f"hot-spots-{table}-{period.start}-{period.end}")
    abort(404)


def _evidence() -> tuple[svc.Period, str | None, svc.Evidence]:
    period, error = _period()
    flt = svc.EvidenceFilter.from_query(request.args)
    try:
        return period, error, svc.evidence(db_session(), scope(), period, flt)
    except NotFound:
        abort(404)


def _evidence_tables(e: svc.Evidence) -> list[DataTable]:
    def csv(table: str) -> str:
        return url_for(
            "authority.evidence_csv", table=table, **e.filter.query(), **e.period.query()
        )

    return evidence_tables(e, csv)


@blueprint.get("/evidence")
@authority_required
def evidence() -> str:
    period, error, e = _evidence()
    return render_template(
        "authority/evidence.html",
        period=period,
        period_error=error,
        e=e,
        tables=_evidence_tables(e),
        province_label=province_label,
    )


@blueprint.get("/evidence/<table>.csv")
@authority_required
def evidence_csv(table: str) -> Response:
    period, _error, e = _evidence()
    for t in _evidence_tables(e):
        if t.key == table:
            return csv_download(t, f"evidence-{table}-{period.start}-{period.end}")
    abort(404)


from traceqr.web.authority import identity_views  # noqa: E402, F401 - registers its routes
