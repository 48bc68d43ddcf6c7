"""Forms on the public stamp page: a place, the PIN claim, a report of a suspected fake."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from traceqr.web.i18n import lazy_gettext as _l
from traceqr.web.portal.forms import FlaskForm, ProvinceSelect, province_choices


class PlaceForm(FlaskForm):
    token = HiddenField()
    province_code = SelectField(
        _l("Province or city where you are"), choices=[], default="", widget=ProvinceSelect()
    )
    lat = HiddenField()
    lon = HiddenField()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.province_code.choices = province_choices()


class ClaimForm(FlaskForm):
    pin = StringField(_l("PIN under the scratch-off layer"), [Length(max=20)])


class ReportForm(FlaskForm):
    code = HiddenField()
    shop_name = StringField(_l("Shop where you bought it"), [Optional(), Length(max=200)])
    shop_address = StringField(_l("Shop address"), [Optional(), Length(max=300)])
    province_code = SelectField(
        _l("Province or city"), choices=[], default="", widget=ProvinceSelect()
    )
    note = TextAreaField(_l("What looks wrong?"), [Optional(), Length(max=2000)])
    photo = FileField(_l("A photo of the product or stamp"))
    contact = StringField(
        _l("Your phone or e-mail, if you agree to be contacted"), [Optional(), Length(max=200)]
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.province_code.choices = province_choices()
