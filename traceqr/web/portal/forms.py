"""The portal's forms. They check shape (required, length, type); the services check meaning
(GTIN check digit, tax code, lot characters, dates) and their errors land on the same fields.
Every form carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask_wtf import FlaskForm as _FlaskForm
from flask_wtf.file import FileField
from markupsafe import Markup
from wtforms import (
    BooleanField,
    DecimalField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)
from wtforms.widgets import Select, html_params

from traceqr.domain.provinces import all_provinces
from traceqr.services.catalog import CERTIFICATION_KINDS
from traceqr.web.i18n import lazy_gettext as _l
from traceqr.web.i18n import lazy_ngettext, translations

REQUIRED = _l("This is required.")

# WTForms ships no Vietnamese catalogue: its own messages go through ours. Listing them
# here lets `pybabel extract` find them.
WTFORMS_MESSAGES = (
    lazy_ngettext(
        "Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters.",
        2,
    ),
    lazy_ngettext(
        "Field must be at least %(min)d character long.",
        "Field must be at least %(min)d characters long.",
        2,
    ),
    _l("Number must be at least %(min)s."),
    _l("Number must be at most %(max)s."),
    _l("Number must be between %(min)s and %(max)s."),
    _l("Not a valid choice."),
    _l("Not a valid integer value."),
    _l("Not a valid decimal value."),
)


class _OurTranslations:
    """Raw catalogue look-ups: WTForms fills in the placeholders itself."""

    def gettext(self, message: str) -> str:
        return str(translations().gettext(message))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(translations().ngettext(singular, plural, n))


class FlaskForm(_FlaskForm):
    class Meta(_FlaskForm.Meta):
        def get_translations(self, form: Any) -> _OurTranslations:
            return _OurTranslations()


def province_choices() -> list[SelectChoice]:
    """The province picker's choices: "—" first, then the 34 provinces and cities."""
    return list(_province_choice_tuple())


@lru_cache(maxsize=1)  # 35 objects built for every form was a fifth of a form's set-up
def _province_choice_tuple() -> tuple[SelectChoice, ...]:
    return (SelectChoice("", "—"), *(SelectChoice(p.code, p.name_vi) for p in all_provinces()))


@lru_cache(maxsize=64)
def _province_options(selected: str) -> Markup:
    return Markup("").join(
        Markup("<option {}>{}</option>").format(
            # html_params escapes every value it writes.
            Markup(html_params(value=choice.value, selected=choice.value == selected)),  # noqa: S704
            choice.label,
        )
        for choice in province_choices()
    )


class ProvinceSelect(Select):
    """The province picker. Its 35 options are the same on every page, so they are rendered
    once per selected value: WTForms' per-option rendering was most of the stamp page's
    time (bench/http_verification.py, docs/performance.md)."""

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        if "required" not in kwargs and getattr(field.flags, "required", False):
            kwargs["required"] = True
        selected = field.data if isinstance(field.data, str) else ""
        return province_select(field.name, selected, **kwargs)


def province_select(name: str, selected: str = "", **attributes: Any) -> Markup:
    """The province picker's ``<select>`` with ``selected`` chosen ("" for "—")."""
    opening = Markup(f"<select {html_params(name=name, **attributes)}>")  # noqa: S704 - html_params escapes every value
    return opening + _province_options(selected) + Markup("</select>")


class SignupForm(FlaskForm):
    business_name = StringField(_l("Business name"), [DataRequired(REQUIRED), Length(max=200)])
    name = StringField(_l("Your name"), [Optional(), Length(max=120)])
    email = EmailField(_l("E-mail"), [DataRequired(REQUIRED), Length(max=254)])
    password = PasswordField(_l("Password"), [DataRequired(REQUIRED), Length(max=200)])
    confirm = PasswordField(
        _l("Repeat the password"),
        [DataRequired(REQUIRED), EqualTo("password", message=_l("The passwords differ."))],
    )


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), [DataRequired(REQUIRED), Length(max=254)])
    password = PasswordField(_l("Password"), [DataRequired(REQUIRED), Length(max=200)])


class ForgotForm(FlaskForm):
    email = EmailField(_l("E-mail"), [DataRequired(REQUIRED), Length(max=254)])


class SetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), [DataRequired(REQUIRED), Length(max=200)])
    confirm = PasswordField(
        _l("Repeat the password"),
        [DataRequired(REQUIRED), EqualTo("password", message=_l("The passwords differ."))],
    )


class ChangePasswordForm(SetPasswordForm):
    current_password = PasswordField(_l("Current password"), [DataRequired(REQUIRED)])


class ProfileForm(FlaskForm):
    name = StringField(_l("Trading name"), [DataRequired(REQUIRED), Length(max=200)])
    legal_name = StringField(_l("Legal name"), [Optional(), Length(max=300)])
    tax_code = StringField(_l("Tax code (mã số thuế)"), [Optional(), Length(max=20)])
    address_street = StringField(_l("Street address"), [Optional(), Length(max=300)])
    address_commune = StringField(_l("Commune or ward (xã/phường)"), [Optional(), Length(max=120)])
    province_code = SelectField(
        _l("Province or city"), choices=[], default="", widget=ProvinceSelect()
    )
    cluster_id = SelectField(  # choices: the register, set by the view; the service checks
        _l("Industrial park or cluster (from the register)"),
        choices=[],
        default="",
        coerce=lambda value: "" if value is None else str(value),
        validate_choice=False,
    )
    cluster_name = StringField(_l("Industrial park or cluster"), [Optional(), Length(max=200)])
    phone = StringField(_l("Phone"), [Optional(), Length(max=30)])
    website = StringField(_l("Website"), [Optional(), Length(max=300)])
    logo = FileField(_l("Logo (PNG or JPEG)"))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.province_code.choices = province_choices()


class VerificationForm(FlaskForm):
    """A request to have the business's identity checked; the service checks meaning (tax
    code check digit, province, GS1 prefixes) and its errors land on these fields."""

    name = StringField(_l("Name shown to shoppers"), [DataRequired(REQUIRED), Length(max=200)])
    legal_name = StringField(
        _l("Legal name, as on the registration certificate"),
        [DataRequired(REQUIRED), Length(max=300)],
    )
    tax_code = StringField(_l("Tax code (mã số thuế)"), [DataRequired(REQUIRED), Length(max=20)])
    address_street = StringField(
        _l("Registered address: house number and street"),
        [DataRequired(REQUIRED), Length(max=300)],
    )
    address_commune = StringField(_l("Commune or ward (xã/phường)"), [Optional(), Length(max=120)])
    province_code = SelectField(
        _l("Province or city"), choices=[], default="", widget=ProvinceSelect()
    )
    legal_representative = StringField(
        _l("Legal representative (người đại diện theo pháp luật)"),
        [DataRequired(REQUIRED), Length(max=120)],
    )
    gs1_prefixes = StringField(
        _l("GS1 company prefixes (mã doanh nghiệp GS1), if you have them"),
        [Optional(), Length(max=400)],
    )
    registration_document = FileField(
        _l(
            "Business registration certificate (Giấy chứng nhận đăng ký doanh nghiệp): "
            "a PDF or a photo"
        )
    )
    gs1_document = FileField(
        _l("GS1 Vietnam membership certificate: a PDF or a photo (needed with prefixes)")
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.province_code.choices = province_choices()


class ProductForm(FlaskForm):
    name = StringField(_l("Product name"), [DataRequired(REQUIRED), Length(max=300)])
    gtin = StringField(_l("GTIN (barcode number)"), [Optional(), Length(max=14)])
    brand = StringField(_l("Brand"), [Optional(), Length(max=200)])
    category = StringField(_l("Category"), [Optional(), Length(max=200)])
    origin = StringField(_l("Origin (xuất xứ)"), [Optional(), Length(max=200)])
    standards = TextAreaField(_l("Standards applied"), [Optional(), Length(max=2000)])
    description = TextAreaField(_l("Description"), [Optional(), Length(max=5000)])


class ImageForm(FlaskForm):
    image = FileField(_l("Product photo (PNG, JPEG or WebP)"))


class CertificationForm(FlaskForm):
    kind = SelectField(
        _l("Certificate"), choices=[SelectChoice(kind) for kind in CERTIFICATION_KINDS]
    )
    number = StringField(_l("Certificate number"), [Optional(), Length(max=100)])
    issuer = StringField(_l("Issued by"), [Optional(), Length(max=200)])
    grade = StringField(_l("Grade (e.g. OCOP stars)"), [Optional(), Length(max=20)])
    valid_from = StringField(_l("Valid from"), [Optional(), Length(max=20)])
    valid_until = StringField(_l("Valid until"), [Optional(), Length(max=20)])


class BatchForm(FlaskForm):
    lot = StringField(_l("Lot number"), [DataRequired(REQUIRED), Length(max=20)])
    production_date = StringField(_l("Production date (NSX)"), [Optional(), Length(max=20)])
    expiry_date = StringField(_l("Expiry date (HSD)"), [Optional(), Length(max=20)])
    quantity = IntegerField(_l("Quantity"), [Optional(), NumberRange(min=1, max=1_000_000_000)])
    facility = StringField(_l("Facility"), [Optional(), Length(max=300)])
    notes = TextAreaField(_l("Notes"), [Optional(), Length(max=5000)])
    requires_activation = BooleanField(_l("Stamps must be activated before sale"))
    with_pin = BooleanField(_l("Each stamp carries a scratch-off PIN for its first buyer"))
    stamp_format = SelectField(
        _l("Stamp format"),
        choices=[
            SelectChoice("1", _l("TraceQR stamp (shortest QR)")),
            SelectChoice(
                "2", _l("GS1 Digital Link: also read by GS1 scanners and tills (needs the GTIN)")
            ),
        ],
        default="1",
    )


class IssueForm(FlaskForm):
    count = IntegerField(
        _l("How many stamps"),
        [InputRequired(REQUIRED), NumberRange(min=1, max=1_000_000)],
    )
    active = BooleanField(_l("Active at once"))


class RevokeForm(FlaskForm):
    code = StringField(_l("One stamp: its code"), [Optional(), Length(max=40)])
    first_seq = IntegerField(_l("Or a range: from number"), [Optional(), NumberRange(min=1)])
    last_seq = IntegerField(_l("to number"), [Optional(), NumberRange(min=1)])
    reason = StringField(_l("Reason"), [Optional(), Length(max=500)])


class RecallForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason, shown to shoppers"), [DataRequired(REQUIRED), Length(max=1000)]
    )


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token."""


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), [DataRequired(REQUIRED), Length(max=254)])
    name = StringField(_l("Name"), [Optional(), Length(max=120)])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice("staff", _l("Staff")), SelectChoice("owner", _l("Owner"))],
        default="staff",
    )


class RoleForm(FlaskForm):
    role = SelectField(
        _l("Role"), choices=[SelectChoice("staff", _l("Staff")), SelectChoice("owner", _l("Owner"))]
    )


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Name of the key"), [DataRequired(REQUIRED), Length(max=100)])


class SheetForm(FlaskForm):
    """The sheet designer: read from the query string, so the preview is a plain link."""

    class Meta:
        csrf = False  # a GET form that changes nothing

    page = SelectField(
        _l("Paper"),
        choices=[
            SelectChoice("A4", "A4"),
            SelectChoice("A5", "A5"),
            SelectChoice("letter", "Letter"),
            SelectChoice("roll", _l("Label roll")),
        ],
        default="A4",
    )
    stamp_mm = DecimalField(
        _l("Stamp size (mm)"), [Optional(), NumberRange(min=10, max=200)], default=25, places=1
    )
    ecc = SelectField(
        _l("Error correction"),
        choices=[
            SelectChoice("L", _l("L: smallest")),
            SelectChoice("M", _l("M: clean print")),
            SelectChoice("Q", _l("Q: handled goods (recommended)")),
            SelectChoice("H", _l("H: rough surfaces")),
        ],
        default="Q",
    )
    margin_mm = DecimalField(
        _l("Page margin (mm)"), [Optional(), NumberRange(min=0, max=100)], places=1
    )
    gap_mm = DecimalField(
        _l("Gap between stamps (mm)"), [Optional(), NumberRange(min=0, max=50)], default=2, places=1
    )
    cut_marks = BooleanField(_l("Cut marks"))
    side = SelectField(
        _l("Beside the QR"),
        choices=[
            SelectChoice("none", _l("Nothing")),
            SelectChoice("text", _l("A line of text")),
            SelectChoice("logo", _l("The logo")),
        ],
        default="none",
    )
    side_text = StringField(_l("Text beside the QR"), [Optional(), Length(max=120)])
    roll_width_mm = DecimalField(
        _l("Roll width (mm)"), [Optional(), NumberRange(min=20, max=300)], default=60, places=1
    )
    labels_across = IntegerField(
        _l("Labels across the roll"), [Optional(), NumberRange(min=1, max=10)], default=1
    )


class DetectionForm(FlaskForm):
    """Copy-detection thresholds; the lower bounds keep honest buyers from being flagged."""

    max_scans = IntegerField(
        _l("Checks before a stamp looks copied"),
        [InputRequired(REQUIRED), NumberRange(min=9, max=10_000)],
    )
    max_speed_kmh = IntegerField(
        _l("Fastest plausible travel between two checks (km/h)"),
        [InputRequired(REQUIRED), NumberRange(min=50, max=2_000)],
    )
    max_clients = IntegerField(
        _l("Different phones or networks before a stamp looks copied"),
        [InputRequired(REQUIRED), NumberRange(min=2, max=1_000)],
    )
    after_claim_allowance = IntegerField(
        _l("Checks by others allowed after the first buyer's PIN claim"),
        [InputRequired(REQUIRED), NumberRange(min=0, max=1_000)],
    )


# --- traceability ---------------------------------------------------------------------------

FACILITY_KINDS = (
    ("farm", _l("Farm or growing area")),
    ("factory", _l("Factory or workshop")),
    ("warehouse", _l("Warehouse")),
    ("shop", _l("Shop")),
    ("other", _l("Other")),
)


class FacilityForm(FlaskForm):
    name = StringField(_l("Name"), [DataRequired(REQUIRED), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, str(t)) for k, t in FACILITY_KINDS])
    address = StringField(_l("Address"), [Optional(), Length(max=300)])
    province_code = SelectField(
        _l("Province or city"), choices=[], default="", widget=ProvinceSelect()
    )
    gln = StringField(_l("GLN (GS1 location number), if it has one"), [Optional(), Length(max=13)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.province_code.choices = province_choices()
        self.kind.choices = [SelectChoice(k, str(t)) for k, t in FACILITY_KINDS]


class _WhenWhere(FlaskForm):
    event_time = StringField(
        _l("When (Vietnam time; empty means now)"), [Optional(), Length(max=40)]
    )
    facility_id = SelectField(_l("Where: one of your facilities"), choices=[], default="")
    quantity = DecimalField(_l("Quantity"), [Optional(), NumberRange(min=0)], places=None)
    unit = SelectField(_l("Unit"), choices=[], default="")
    note = TextAreaField(_l("Note"), [Optional(), Length(max=2000)])

    def set_choices(self, facilities: list[Any], units: list[SelectChoice]) -> None:
        self.facility_id.choices = [SelectChoice("", "—")] + [
            SelectChoice(str(f.id), f.name) for f in facilities
        ]
        self.unit.choices = [SelectChoice("", "—"), *units]


class EventForm(_WhenWhere):
    biz_step = SelectField(_l("What happened"), choices=[])
    place = StringField(_l("Or a place outside your facilities"), [Optional(), Length(max=300)])
    source = StringField(_l("From (who sent it)"), [Optional(), Length(max=300)])
    destination = StringField(_l("To (who it goes to)"), [Optional(), Length(max=300)])
    input_batches = SelectMultipleField(_l("Made from these batches"), choices=[], coerce=str)
    input_lots = TextAreaField(
        _l("Made from lots outside TraceQR: one per line, GTIN/lot or a lot"),
        [Optional(), Length(max=2000)],
    )


class ShipForm(_WhenWhere):
    partner = StringField(
        _l("To the business (its tax code on TraceQR)"), [DataRequired(REQUIRED), Length(max=20)]
    )


class ReceiveForm(_WhenWhere):
    """Accepting a shipment: when and where it arrived."""


class ImportForm(FlaskForm):
    file = FileField(_l("File"))
