"""JSON shapes of the API: what requests may carry (strict) and what answers hold.

Requests are parsed strictly (a JSON integer is required where a count is expected, no
unknown members), then the services check the meaning (GTIN check digit, dates, lots).
The OpenAPI document is generated from these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from traceqr.domain.verification import Reason


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProductIn(_Strict):
    name: StrictStr = Field(max_length=300, description="Product name as on the label")
    gtin: StrictStr | None = Field(
        None,
        description="GTIN-8, -12, -13 or -14 as a string of digits with a valid GS1 check "
        "digit; stored and answered as GTIN-14",
        examples=["8934567890128"],
    )
    description: StrictStr | None = Field(None, max_length=5000)
    brand: StrictStr | None = Field(None, max_length=200)
    category: StrictStr | None = Field(None, max_length=200)
    origin: StrictStr | None = Field(
        None, max_length=200, description="Xuất xứ (origin) as on the label"
    )
    standards: StrictStr | None = Field(
        None, max_length=2000, description="Tiêu chuẩn áp dụng (standards applied)"
    )


class BatchIn(_Strict):
    lot: StrictStr = Field(
        max_length=20, description="Lot number: GS1 AI (10), 1-20 characters of CSET 82"
    )
    production_date: StrictStr | None = Field(None, description="NSX, ISO 8601 YYYY-MM-DD")
    expiry_date: StrictStr | None = Field(
        None, description="HSD, YYYY-MM-DD, or YYYY-MM meaning the last day of that month"
    )
    quantity: StrictInt | None = Field(None, ge=1)
    facility: StrictStr | None = Field(None, max_length=300)
    notes: StrictStr | None = Field(None, max_length=5000)
    requires_activation: StrictBool | None = Field(
        None, description="Stamps of this batch are meant to be activated before sale"
    )
    with_pin: StrictBool | None = Field(
        None, description="Each stamp carries a one-time scratch-off PIN for the first buyer"
    )
    stamp_format: Literal[1, 2] | None = Field(
        None,
        description="1 (default): the TraceQR URL …/S/<code>. 2: a GS1 Digital Link "
        "…/01/<GTIN>/10/<lot>/21/<serial>?K=&S= that GS1 scanners and tills read; needs the "
        "product's GTIN. See docs/stamp-format.md",
    )


class IssueIn(_Strict):
    count: StrictInt = Field(ge=1, le=100_000, description="How many stamps to issue")
    active: StrictBool = Field(
        True, description="false issues inactive stamps that verify as `inactive` until activated"
    )


class StampJobIn(_Strict):
    count: StrictInt = Field(
        ge=1, le=1_000_000, description="How many stamps to issue in the background"
    )
    active: StrictBool = Field(True)


class JobOut(BaseModel):
    id: int
    kind: Literal["issue_stamps", "render_sheet"] = Field(
        description="issue_stamps: a stamp-job; render_sheet: a sheet-job"
    )
    status: Literal["queued", "running", "done", "failed"]
    done: int = Field(
        description="Stamps issued or printed so far (updated every 5,000 on PostgreSQL)"
    )
    total: int
    batch_id: int | None
    result: dict[str, int | bool] | None = Field(
        description="Once done: count, first_seq, last_seq and test (stamps: test is true for "
        "a business not yet verified); stamps, pages, bytes (sheet)"
    )
    error: str | None
    created_at: str | None
    url: str = Field(description="Poll this until status is done or failed")
    download_url: str | None = Field(
        description="A done sheet-job's PDF, kept 7 days after the job ended"
    )


class RevokeIn(_Strict):
    reason: StrictStr | None = Field(None, max_length=500)


class RecallIn(_Strict):
    reason: StrictStr = Field(min_length=1, max_length=1000, description="Shown to the public")


# --- answers ------------------------------------------------------------------------------


class ProductOut(BaseModel):
    id: int
    name: str
    gtin: str | None
    description: str | None
    brand: str | None
    category: str | None
    origin: str | None
    standards: str | None
    created_at: str


class StampCounts(BaseModel):
    total: int
    active: int
    inactive: int
    revoked: int


class BatchOut(BaseModel):
    id: int
    product_id: int
    lot: str
    production_date: str | None
    expiry_date: str | None
    quantity: int | None
    facility: str | None
    notes: str | None
    requires_activation: bool
    with_pin: bool
    stamp_format: int
    recalled: bool
    recalled_at: str | None
    recall_reason: str | None
    stamps: StampCounts
    created_at: str


class IssueOut(BaseModel):
    count: int
    batch_id: int
    first_seq: int
    last_seq: int
    kid: str
    active: bool
    test: bool = Field(
        False,
        description="Test stamps (TEM THỬ): the business is not verified yet, so its stamps "
        "never verify as a genuine product (status inactive, reason test_stamp)",
    )
    csv_url: str
    sheet_url: str


class ScanSummary(BaseModel):
    count: int = Field(description="This stamp's verifications, this one included")
    first_at: str | None = Field(description="ISO 8601 time of the first verification")


class StampOut(BaseModel):
    serial: str
    short_code: str
    url: str
    batch_id: int
    seq: int
    kid: str
    active: bool
    activated_at: str | None
    revoked: bool
    revoked_at: str | None
    revoke_reason: str | None
    scans: ScanSummary


class ActivateBatchOut(BaseModel):
    activated: int
    batch: BatchOut


Status = Literal[
    "genuine", "suspicious", "revoked", "recalled", "inactive", "invalid", "unregistered"
]


class VerifyStamp(BaseModel):
    serial: str
    short_code: str
    kid: str
    format_version: int
    seq: int | None
    active: bool | None
    revoked_at: str | None
    revoke_reason: str | None
    has_pin: bool = False
    claimed_at: str | None = None


class VerifiedProducer(BaseModel):
    legal_name: str
    tax_code: str | None = None
    verified_at: str | None = Field(None, description="ISO 8601, when a reviewer checked it")
    verified_by: str | None = Field(None, description="The reviewing body")


class VerifyBusiness(BaseModel):
    id: int
    name: str | None
    verified: VerifiedProducer | None = Field(
        None,
        description="The producer's identity as a reviewer checked it (legal name, tax code, "
        "date, reviewing body); null when nobody verified it: docs/identity.md",
    )
    verification_withdrawn_at: str | None = Field(
        None, description="The producer's verification was withdrawn from this time"
    )
    legal_name: str | None = None
    address: str | None = None
    province: str | None = None
    cluster: str | None = None
    phone: str | None = None
    website: str | None = None


class VerifyProduct(BaseModel):
    id: int
    name: str
    gtin: str | None = None
    brand: str | None = None
    category: str | None = None
    origin: str | None = None
    standards: str | None = None


class VerifyBatch(BaseModel):
    id: int
    lot: str
    production_date: str | None = None
    expiry_date: str | None = None
    recalled_at: str | None = None
    recall_reason: str | None = None


class VerifyOut(BaseModel):
    status: Status
    signature_valid: bool
    reasons: list[str] = Field(
        description="Stable reason codes, most serious first: "
        + ", ".join(f"`{reason.value}`" for reason in Reason)
        + ". `key_compromised`: signed by a key its operator declared compromised from a "
        "time before this stamp was issued (or with no record at all): docs/keys.md. "
        "`test_stamp`: a test stamp of a business not yet verified; "
        "`verification_withdrawn`: signed after its producer's verification was withdrawn; "
        "`producer_withdrawn`: a warning, signed before that: docs/identity.md"
    )
    message: str = Field(description="The verdict in words, in the request's language")
    scans: ScanSummary
    checked_at: str
    test: bool = Field(
        False,
        description="A test stamp (TEM THỬ — không dùng cho sản phẩm) of a business not yet "
        "verified: never a genuine product",
    )
    stamp: VerifyStamp | None = None
    business: VerifyBusiness | None = None
    product: VerifyProduct | None = None
    batch: VerifyBatch | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


# --- traceability -------------------------------------------------------------------------


class FacilityIn(_Strict):
    name: StrictStr = Field(max_length=200, description="Farm, factory, warehouse, shop …")
    kind: StrictStr | None = Field(None, max_length=40, examples=["farm"])
    address: StrictStr | None = Field(None, max_length=300)
    province_code: StrictStr | None = Field(None, description="One of the 34 provinces: ha-noi …")
    gln: StrictStr | None = Field(
        None, description="GS1 Global Location Number: 13 digits with its check digit"
    )


class FacilityOut(BaseModel):
    id: int
    name: str
    kind: str | None
    address: str | None
    province_code: str | None
    gln: str | None


class EventInputIn(_Strict):
    batch_id: StrictInt | None = Field(
        None, description="A TraceQR batch you hold (yours, or shipped to you and accepted)"
    )
    gtin: StrictStr | None = Field(None, description="A lot from outside TraceQR: its GTIN …")
    lot: StrictStr | None = Field(None, max_length=20, description="… and its lot number")
    description: StrictStr | None = Field(None, max_length=300)
    quantity: float | None = Field(None, ge=0)
    unit: StrictStr | None = Field(None, description="UN/ECE Rec 20 code: KGM, LTR, EA …")


class EventIn(_Strict):
    biz_step: StrictStr = Field(
        description="GS1 CBV business step: commissioning, receiving, transforming, packing, "
        "shipping, retail_selling, destroying …",
        examples=["packing"],
    )
    event_time: StrictStr | None = Field(
        None,
        description="ISO 8601 with its offset; without one it is Vietnam time (+07:00); "
        "absent means now",
        examples=["2026-11-02T07:30:00+07:00"],
    )
    disposition: StrictStr | None = Field(
        None, description="GS1 CBV disposition; by default the one the step usually leaves"
    )
    facility_id: StrictInt | None = Field(None, description="One of your facilities")
    place: StrictStr | None = Field(None, max_length=300, description="A place outside TraceQR")
    place_gln: StrictStr | None = None
    source: StrictInt | StrictStr | None = Field(
        None,
        description="Who it came from, as text (shown as written, not checked). Another "
        "business on TraceQR is named only by a shipment (its receiving event names the "
        "sender); an id other than your own business's is refused",
    )
    destination: StrictInt | StrictStr | None = Field(
        None,
        description="Who it goes to, as text (shown as written, not checked). Another "
        "business on TraceQR is named only by a shipment (POST /batches/{id}/shipments); "
        "an id other than your own business's is refused",
    )
    quantity: float | None = Field(None, ge=0)
    unit: StrictStr | None = None
    inputs: list[EventInputIn] | None = Field(
        None, max_length=50, description="transforming only: the lots it was made from"
    )
    note: StrictStr | None = Field(None, max_length=2000)


class PartyOut(BaseModel):
    id: int | None = Field(
        description="The business on TraceQR, when it is one (a shipment's partner, or the "
        "recorder); null: a name as the recorder wrote it, not checked"
    )
    name: str | None


class EventInputOut(BaseModel):
    batch_id: int | None
    gtin: str | None
    lot: str | None
    description: str | None
    quantity: float | None
    unit: str | None


class EventOut(BaseModel):
    id: str = Field(description="urn:uuid:… — the EPCIS eventID")
    batch_id: int
    kind: Literal["ObjectEvent", "TransformationEvent"]
    action: str | None
    biz_step: str
    disposition: str | None
    event_time: str = Field(description="ISO 8601 in the offset it happened at")
    time_zone: str
    recorded_by: PartyOut
    facility: FacilityOut | None
    place: str | None
    place_gln: str | None
    source: PartyOut | None
    destination: PartyOut | None
    quantity: float | None
    unit: str | None
    inputs: list[EventInputOut]
    note: str | None
    origin: str = Field(description="How it was recorded: portal, api, csv, epcis, shipment")


class EventListOut(BaseModel):
    batch_id: int
    events: list[EventOut]


class ImportOut(BaseModel):
    imported: int
    already_present: int = 0
    events: list[EventOut]


class ShipmentIn(_Strict):
    partner: StrictStr | StrictInt = Field(
        description="The receiving business's tax code (MST, 10 or 13 digits): a verified "
        "business on TraceQR. Never a business id (a number is read as a tax code)",
        examples=["0109900009"],
    )
    event_time: StrictStr | None = None
    facility_id: StrictInt | None = None
    quantity: float | None = Field(None, ge=0)
    unit: StrictStr | None = None
    note: StrictStr | None = Field(None, max_length=2000)


class ShipmentAnswerIn(_Strict):
    event_time: StrictStr | None = None
    facility_id: StrictInt | None = Field(None, description="Where you received it")
    quantity: float | None = Field(None, ge=0)
    unit: StrictStr | None = None
    note: StrictStr | None = Field(None, max_length=2000)


class ShipmentOut(BaseModel):
    id: int
    batch_id: int
    lot: str
    product: str
    sender: PartyOut
    receiver: PartyOut
    status: Literal["sent", "accepted", "refused"]
    quantity: float | None
    unit: str | None
    sent_at: str
    answered_at: str | None


class ShipmentListOut(BaseModel):
    incoming: list[ShipmentOut]
    outgoing: list[ShipmentOut]
