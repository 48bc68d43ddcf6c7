"""The register of industrial parks and clusters: list, add, change, import from CSV."""

from __future__ import annotations

import csv
import io

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf.file import FileField
from werkzeug.wrappers import Response
from wtforms import DecimalField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from traceqr.domain.clusters import (
    COLUMNS,
    KINDS,
    STATUSES,
    ClusterEntry,
    LineProblem,
    register_csv_rows,
)
from traceqr.domain.provinces import province
from traceqr.domain.spreadsheet import safe_row
from traceqr.errors import Conflict, NotFound, TraceQRError, ValidationError
from traceqr.models import Cluster
from traceqr.services import clusters as register
from traceqr.web.authority import authority_required, blueprint, scope
from traceqr.web.authority.tables import kind_label, register_table, status_label
from traceqr.web.context import db_session, now
from traceqr.web.downloads import file_bytes_response
from traceqr.web.i18n import gettext as _
from traceqr.web.i18n import lazy_gettext as _l
from traceqr.web.portal.forms import REQUIRED, FlaskForm
from traceqr.web.portal.support import show_error

MAX_IMPORT_BYTES = 2 * 1024 * 1024


class ClusterForm(FlaskForm):
    name = StringField(_l("Name"), [DataRequired(REQUIRED), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=[])
    province = SelectField(_l("Province or city"), choices=[])
    commune = StringField(_l("Commune or ward (xã/phường)"), [Optional(), Length(max=120)])
    area_ha = DecimalField(
        _l("Area (ha)"), [Optional(), NumberRange(min=0, max=100_000)], places=None
    )
    status = SelectField(_l("Status"), choices=[])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = [SelectChoice(k, kind_label(k)) for k in KINDS]
        self.status.choices = [SelectChoice(s, status_label(s)) for s in STATUSES]
        self.province.choices = [
            SelectChoice(code, found.name_vi)
            for code in scope().codes()
            if (found := province(code)) is not None
        ]


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"))
    text = TextAreaField(_l("Or paste the CSV here"), [Optional(), Length(max=MAX_IMPORT_BYTES)])


def _editable(cluster: Cluster) -> bool:
    return scope().covers(cluster.province_code)


@blueprint.get("/register")
@authority_required
def clusters() -> str:
    code = request.args.get("province") or None
    if code is not None and not scope().covers(code):
        abort(404)
    rows = register.list_clusters(db_session(), [code] if code else scope().provinces)
    table = register_table(
        rows, url_for("authority.register_csv", **({"province": code} if code else {})), True
    )
    return render_template(
        "authority/register.html",
        table=table,
        province_code=code,
        provinces=scope().codes(),
    )


@blueprint.get("/register.csv")
@authority_required
def register_csv() -> Response:
    """The register in the format the import reads, so it can be edited and imported back."""
    code = request.args.get("province") or None
    if code is not None and not scope().covers(code):
        abort(404)
    rows = register.list_clusters(db_session(), [code] if code else scope().provinces)
    entries = [
        ClusterEntry(c.name, c.kind, c.province_code, c.commune, c.area_ha, c.status) for c in rows
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        safe_row(row) for row in register_csv_rows(entries)
    )
    body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    response = file_bytes_response(body, "text/csv", "clusters.csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
    return response


def _save(form: ClusterForm, cluster: Cluster | None) -> Response | None:
    values = {
        "name": form.name.data,
        "kind": form.kind.data,
        "province": form.province.data,
        "commune": form.commune.data,
        "area_ha": str(form.area_ha.data) if form.area_ha.data is not None else None,
        "status": form.status.data,
    }
    try:
        saved = register.save_cluster(
            db_session(), values, now(), cluster=cluster, provinces=scope().provinces
        )
        db_session().commit()
    except (ValidationError, Conflict) as error:
        db_session().rollback()
        show_error(form, error)
        return None
    flash(_("%(name)s is saved in the register.", name=saved.name), "success")
    return redirect(url_for("authority.clusters", province=saved.province_code))


@blueprint.route("/register/new", methods=["GET", "POST"])
@authority_required
def new_cluster() -> Response | str:
    form = ClusterForm()
    if form.validate_on_submit() and (done := _save(form, None)) is not None:
        return done
    return render_template("authority/cluster_form.html", form=form, cluster=None)


@blueprint.route("/register/<id:cluster_id>", methods=["GET", "POST"])
@authority_required
def edit_cluster(cluster_id: int) -> Response | str:
    try:
        cluster = register.get_cluster(db_session(), cluster_id, scope().provinces)
    except NotFound:
        abort(404)
    form = ClusterForm(
        obj=cluster,
        data=None if request.method == "POST" else {"province": cluster.province_code},
    )
    if form.validate_on_submit() and (done := _save(form, cluster)) is not None:
        return done
    return render_template("authority/cluster_form.html", form=form, cluster=cluster)


@blueprint.route("/register/import", methods=["GET", "POST"])
@authority_required
def import_clusters() -> Response | str:
    form = ImportForm()
    problems: list[LineProblem] = []
    if form.validate_on_submit():
        upload = request.files.get("file")
        raw = upload.read(MAX_IMPORT_BYTES + 1) if upload is not None and upload.filename else b""
        if len(raw) > MAX_IMPORT_BYTES:
            form.file.errors = [_("The file is larger than 2 MB.")]
            raw = b""
        text = ""
        if raw:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                form.file.errors = [_("The file is not UTF-8 text: save it as “CSV UTF-8”.")]
        elif not form.file.errors:
            text = form.text.data or ""
        if not text.strip() and not form.file.errors:
            form.file.errors = [_("Choose a CSV file or paste its lines.")]
        if text.strip() and not form.file.errors:
            try:
                created, updated = register.import_register(
                    db_session(), text, now(), provinces=scope().provinces
                )
                db_session().commit()
            except register.RegisterImportError as error:
                db_session().rollback()
                problems = error.problems
            except TraceQRError as error:
                db_session().rollback()
                show_error(form, error, {"": "file"})
            else:
                flash(
                    _(
                        "Imported: %(created)s new, %(updated)s updated.",
                        created=created,
                        updated=updated,
                    ),
                    "success",
                )
                return redirect(url_for("authority.clusters"))
    return render_template(
        "authority/import.html",
        form=form,
        problems=problems,
        columns=COLUMNS,
        example=_example(),
        problem_text=_problem_text,
    )


def _problem_text(problem: LineProblem) -> str:
    from traceqr.web.portal.support import translated

    error = ValidationError(
        problem.problem.template, field=problem.problem.field, **problem.problem.params
    )
    return translated(error)


def _example() -> str:
    return (
        "name,kind,province,commune,area_ha,status\n"
        "Cụm công nghiệp làng nghề Bát Tràng,cụm công nghiệp,Hà Nội,Xã Bát Tràng,"
        "16.5,đang hoạt động\n"
    )
