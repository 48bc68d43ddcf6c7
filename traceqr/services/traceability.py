"""Traceability: facilities, trace events on batches, and shipments between businesses.

"Một bước trước – một bước sau" (Circular 02/2024): every party records what it did to a
lot, and knows the party one step before and one step after. A batch's journey is every
event on it — recorded by its producer, or by the partners it was shipped to once they
accepted the shipment — plus, one level down, the journeys of the lots it was made from.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from traceqr.domain.dates import VIETNAM_TZ, iso_vietnam
from traceqr.domain.gs1 import GS1Error, normalize_gtin, validate_lot
from traceqr.domain.provinces import province
from traceqr.domain.trace import (
    BIZ_STEPS,
    DISPOSITIONS,
    Action,
    EventKind,
    LotRef,
    Party,
    Place,
    Quantity,
    TraceEvent,
    offset_text,
)
from traceqr.errors import N_, Conflict, NotFound, ValidationError
from traceqr.models import (
    Batch,
    Business,
    Facility,
    Product,
    Shipment,
    TraceEventInput,
    TraceEventRecord,
)
from traceqr.services.validation import clean_text, required_text

# Ceilings (issue 16), the defaults of the settings max_events_per_batch and
# max_inputs_per_event: a batch's journey and one import stay small enough to show and to
# write in one short transaction.
MAX_EVENTS_PER_BATCH = 2000
MAX_INPUTS = 50
MAX_CSV_ROWS = 2000  # events per CSV or EPCIS file
UNITS = frozenset({"KGM", "GRM", "TNE", "LTR", "MLT", "EA", "H87", "CT", "BX", "PK", "MTR"})
CSV_COLUMNS = (
    "event_time",
    "biz_step",
    "disposition",
    "facility",
    "place",
    "source",
    "destination",
    "quantity",
    "unit",
    "inputs",
    "note",
)


# --- facilities ----------------------------------------------------------------------------


def clean_gln(value: Any, field: str = "gln") -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    from traceqr.domain.gs1 import check_digit

    if not (text.isascii() and text.isdigit() and len(text) == 13):
        raise ValidationError(N_("a GLN has 13 digits"), field=field)
    if check_digit(text[:-1]) != int(text[-1]):
        raise ValidationError(
            N_("the check digit should be %(expected)s, not %(given)s"),
            field=field,
            expected=check_digit(text[:-1]),
            given=text[-1],
        )
    return text


def create_facility(
    session: Session, business_id: int, data: dict[str, Any], now: datetime
) -> Facility:
    province_code = data.get("province_code") or None
    if province_code is not None and province(province_code) is None:
        raise ValidationError(N_("choose a province from the list"), field="province_code")
    facility = Facility(
        business_id=business_id,
        name=required_text(data.get("name"), "name", max_length=200),
        kind=clean_text(data.get("kind"), "kind", max_length=40),
        address=clean_text(data.get("address"), "address", max_length=300),
        province_code=province_code,
        gln=clean_gln(data.get("gln")),
        created_at=now,
    )
    session.add(facility)
    session.flush()
    return facility


def facilities(session: Session, business_id: int) -> list[Facility]:
    return list(
        session.scalars(
            select(Facility).where(Facility.business_id == business_id).order_by(Facility.name)
        )
    )


def get_facility(session: Session, business_id: int, facility_id: int) -> Facility:
    facility = session.get(Facility, facility_id)
    if facility is None or facility.business_id != business_id:
        raise NotFound(N_("no such facility"))
    return facility


# --- events ----------------------------------------------------------------------------------


def holds_batch(session: Session, business_id: int, batch: Batch) -> bool:
    """The batch's producer, or a partner that accepted a shipment of it and is still
    verified (a partner whose verification was withdrawn loses the batch)."""
    if batch.business_id == business_id:
        return True
    return (
        session.scalar(
            select(Shipment.id)
            .join(Business, Business.id == Shipment.to_business_id)
            .where(
                Shipment.batch_id == batch.id,
                Shipment.to_business_id == business_id,
                Shipment.status == "accepted",
                Business.verification_status == "verified",
            )
        )
        is not None
    )


def held_batches(session: Session, business_id: int, limit: int = 300) -> list[tuple[Batch, str]]:
    """Batches a business can record on or use as inputs, newest first, with product names:
    its own and those shipped to it and accepted."""
    received = select(Shipment.batch_id).where(
        Shipment.to_business_id == business_id, Shipment.status == "accepted"
    )
    rows = session.execute(
        select(Batch, Product.name)
        .join(Product, Product.id == Batch.product_id)
        .where(or_(Batch.business_id == business_id, Batch.id.in_(received)))
        .order_by(Batch.id.desc())
        .limit(limit)
    ).all()
    return [(batch, name) for batch, name in rows]


def received_batches(session: Session, business_id: int) -> list[tuple[Batch, str, str]]:
    """Batches partners shipped to this business and it accepted: batch, product, sender."""
    rows = session.execute(
        select(Batch, Product.name, Business.name)
        .join(Shipment, Shipment.batch_id == Batch.id)
        .join(Product, Product.id == Batch.product_id)
        .join(Business, Business.id == Batch.business_id)
        .where(Shipment.to_business_id == business_id, Shipment.status == "accepted")
        .order_by(Shipment.id.desc())
        .limit(200)
    ).all()
    seen: set[int] = set()
    result = []
    for batch, product_name, owner_name in rows:
        if batch.id not in seen:
            seen.add(batch.id)
            result.append((batch, product_name, owner_name))
    return result


def batch_for_events(session: Session, business_id: int, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None or not holds_batch(session, business_id, batch):
        raise NotFound(N_("batch %(id)s not found"), id=batch_id)
    return batch


def parse_event_time(value: Any, now: datetime) -> datetime:
    """ISO 8601 with its offset (2026-11-02T07:30:00+07:00); a time without one is read as
    Vietnam time; none at all is now."""
    if value in (None, ""):
        return now.astimezone(VIETNAM_TZ)
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(
                N_("write the time as 2026-11-02T07:30:00+07:00"), field="event_time"
            ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=VIETNAM_TZ)
    if not 2000 <= parsed.year <= 2200:
        raise ValidationError(
            N_("the year %(year)s is not plausible"), field="event_time", year=parsed.year
        )
    return parsed


def _clean_quantity(value: Any, unit: Any) -> tuple[float | None, str | None]:
    if value in (None, ""):
        return None, None
    try:
        amount = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(N_("must be a number"), field="quantity") from exc
    if amount != amount or amount < 0 or amount > 1e12:  # NaN, negative, absurd
        raise ValidationError(N_("must be a number from 0 up"), field="quantity")
    code = str(unit).strip().upper() if unit not in (None, "") else None
    if code is not None and code not in UNITS:
        raise ValidationError(
            N_("unit must be one of %(units)s"), field="unit", units=", ".join(sorted(UNITS))
        )
    return amount, code


# Refused for any business id but the recorder's own, whether such a business exists or
# not: a step names another business on TraceQR only through a shipment between the two.
NAMED_ONLY_BY_SHIPMENT = N_(
    "a step names another business on TraceQR only through a shipment: ship the batch to "
    "it by its tax code, or accept its shipment; otherwise write the partner's name as text"
)


def _partner(value: Any, field: str, business_id: int) -> tuple[int | None, str | None]:
    """A partner as a step's author gives it: a name outside TraceQR (text, shown as written
    and not checked), or the author's own business id. Another business's id is refused:
    only :func:`ship` and :func:`answer_shipment` name one (``via_shipment``)."""
    if value in (None, ""):
        return None, None
    if isinstance(value, int) and not isinstance(value, bool):
        if value != business_id:
            raise ValidationError(NAMED_ONLY_BY_SHIPMENT, field=field)
        return value, None
    return None, clean_text(value, field, max_length=300)


def _inputs(
    session: Session, business_id: int, raw: Any, max_inputs: int = MAX_INPUTS
) -> list[TraceEventInput]:
    if raw in (None, "", []):
        return []
    if not isinstance(raw, list) or len(raw) > max_inputs:
        raise ValidationError(
            N_("inputs must be a list of at most %(n)s lots"), field="inputs", n=max_inputs
        )
    rows: list[TraceEventInput] = []
    for index, item in enumerate(raw):
        where = f"inputs[{index}]"
        if not isinstance(item, dict):
            raise ValidationError(N_("each input is an object"), field=where)
        amount, unit = _clean_quantity(item.get("quantity"), item.get("unit"))
        if item.get("batch_id") is not None:
            batch_id = item["batch_id"]
            if not isinstance(batch_id, int) or isinstance(batch_id, bool):
                raise ValidationError(N_("batch_id must be a whole number"), field=where)
            source = session.get(Batch, batch_id)
            if source is None or not holds_batch(session, business_id, source):
                raise ValidationError(
                    N_("input batch %(id)s is not yours or shipped to you"),
                    field=where,
                    id=batch_id,
                )
            rows.append(TraceEventInput(batch_id=source.id, quantity=amount, unit=unit))
            continue
        try:
            gtin = normalize_gtin(str(item["gtin"])) if item.get("gtin") not in (None, "") else None
            lot = validate_lot(str(item.get("lot", "")).strip())
        except GS1Error as exc:
            raise ValidationError(exc.template, field=where, **exc.params) from exc
        rows.append(
            TraceEventInput(
                gtin=gtin,
                lot=lot,
                description=clean_text(item.get("description"), where, max_length=300),
                quantity=amount,
                unit=unit,
            )
        )
    return rows


def record_event(
    session: Session,
    business_id: int,
    batch_id: int,
    data: dict[str, Any],
    now: datetime,
    *,
    origin: str = "api",
    event_uuid: str | None = None,
    via_shipment: tuple[str, int] | None = None,
    max_events: int | None = MAX_EVENTS_PER_BATCH,
    max_inputs: int = MAX_INPUTS,
) -> TraceEventRecord:
    """Record one event on a batch the business holds. Flushes; the caller commits.

    ``source`` and ``destination`` are text, or the recorder's own id (see :func:`_partner`).
    ``via_shipment`` is for :func:`ship` and :func:`answer_shipment` alone: ``("destination",
    receiver)`` on a shipment's shipping event, ``("source", sender)`` on its receiving event.
    ``max_events`` is the most steps a batch holds; None when the caller checked the room.
    """
    batch = batch_for_events(session, business_id, batch_id)
    if max_events is not None:
        check_room(session, batch.id, 1, max_events)
    step = str(data.get("biz_step") or "").strip().lower()
    if step not in BIZ_STEPS:
        raise ValidationError(
            N_("choose a business step: %(steps)s"), field="biz_step", steps=", ".join(BIZ_STEPS)
        )
    disposition = data.get("disposition") or BIZ_STEPS[step]
    if disposition is not None and disposition not in DISPOSITIONS:
        raise ValidationError(
            N_("unknown disposition %(value)s"), field="disposition", value=str(disposition)[:40]
        )
    when = parse_event_time(data.get("event_time"), now)
    facility_id = data.get("facility_id")
    if facility_id not in (None, ""):
        get_facility(session, business_id, int(facility_id))
    inputs = _inputs(session, business_id, data.get("inputs"), max_inputs)
    if inputs and step != "transforming":
        raise ValidationError(N_("only a transforming step has inputs"), field="inputs")
    quantity, unit = _clean_quantity(data.get("quantity"), data.get("unit"))
    source_id, source_text = _partner(data.get("source"), "source", business_id)
    destination_id, destination_text = _partner(data.get("destination"), "destination", business_id)
    if via_shipment is not None:
        side, partner_id = via_shipment
        if side == "source":
            source_id, source_text = partner_id, None
        else:
            destination_id, destination_text = partner_id, None
    action = None
    if inputs or step == "transforming":
        kind = EventKind.TRANSFORMATION
    else:
        kind = EventKind.OBJECT
        action = (
            Action.ADD
            if step == "commissioning"
            else Action.DELETE
            if step in ("destroying", "decommissioning")
            else Action.OBSERVE
        )
    event = TraceEventRecord(
        event_uuid=event_uuid or f"urn:uuid:{uuid.uuid4()}",
        batch_id=batch.id,
        business_id=business_id,
        kind=kind.value,
        action=action.value if action else None,
        biz_step=step,
        disposition=disposition,
        event_time=when,
        time_zone=offset_text(when),
        facility_id=int(facility_id) if facility_id not in (None, "") else None,
        place_text=clean_text(data.get("place"), "place", max_length=300),
        place_gln=clean_gln(data.get("place_gln"), "place_gln"),
        source_business_id=source_id,
        source_text=source_text,
        destination_business_id=destination_id,
        destination_text=destination_text,
        quantity=quantity,
        unit=unit,
        note=clean_text(data.get("note"), "note", max_length=2000, multiline=True),
        origin=origin,
        created_at=now,
    )
    session.add(event)
    session.flush()
    for row in inputs:
        row.event_id = event.id
        session.add(row)
    session.flush()
    return event


def check_room(
    session: Session,
    batch_id: int,
    adding: int,
    max_events: int,
    *,
    written: bool = False,
    field: str = "batch",
) -> None:
    """Refuse ``adding`` more steps on a batch that would then hold more than ``max_events``
    (``written``: they are already flushed, and the caller rolls back on refusal).

    On PostgreSQL the batch's row is locked until the commit, so two imports at once cannot
    both fit in the last room (SQLite has one writer at a time anyway)."""
    session.execute(select(Batch.id).where(Batch.id == batch_id).with_for_update())
    recorded = (
        session.scalar(
            select(func.count())
            .select_from(TraceEventRecord)
            .where(TraceEventRecord.batch_id == batch_id)
        )
        or 0
    ) - (adding if written else 0)
    if recorded + adding > max_events:
        raise ValidationError(
            N_(
                "a batch holds at most %(n)s steps: this one has %(recorded)s, "
                "so %(adding)s more do not fit"
            ),
            field=field,
            n=max_events,
            recorded=recorded,
            adding=adding,
        )


def import_csv(
    session: Session,
    business_id: int,
    batch_id: int,
    text: str,
    now: datetime,
    *,
    max_events: int = MAX_EVENTS_PER_BATCH,
    max_inputs: int = MAX_INPUTS,
) -> list[TraceEventRecord]:
    """Events from a CSV (columns CSV_COLUMNS, header first), all or none.

    ``facility`` is a facility's name or GLN; ``inputs`` lists lots as
    ``GTIN/LOT`` or ``#<batch id>``, separated by ``;``.
    """
    try:
        return _import_csv(session, business_id, batch_id, text, now, max_events, max_inputs)
    except csv.Error as exc:  # a cell past the csv module's size limit, for one
        raise ValidationError(
            N_("the CSV cannot be read (%(detail)s)"), field="file", detail=str(exc)[:200]
        ) from exc


def _import_csv(
    session: Session,
    business_id: int,
    batch_id: int,
    text: str,
    now: datetime,
    max_events: int,
    max_inputs: int,
) -> list[TraceEventRecord]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "biz_step" not in reader.fieldnames:
        raise ValidationError(N_("the CSV needs a header row with at least biz_step"), field="file")
    unknown = sorted(set(reader.fieldnames) - set(CSV_COLUMNS))
    if unknown:
        raise ValidationError(
            N_("unknown columns: %(names)s"), field="file", names=", ".join(unknown)
        )
    rows = []
    for row in reader:
        if len(rows) == MAX_CSV_ROWS:
            raise ValidationError(N_("at most %(n)s events per file"), field="file", n=MAX_CSV_ROWS)
        rows.append(row)
    batch = batch_for_events(session, business_id, batch_id)
    if rows:
        check_room(session, batch.id, len(rows), max_events, field="file")
    by_name = {f.name.lower(): f.id for f in facilities(session, business_id)}
    by_gln = {f.gln: f.id for f in facilities(session, business_id) if f.gln}
    created: list[TraceEventRecord] = []
    for number, row in enumerate(rows, start=2):
        try:
            facility_ref = (row.get("facility") or "").strip()
            facility_id = by_gln.get(facility_ref) or by_name.get(facility_ref.lower())
            if facility_ref and facility_id is None:
                raise ValidationError(
                    N_("no facility named %(name)s"), field="facility", name=facility_ref[:60]
                )
            data = {
                "event_time": row.get("event_time"),
                "biz_step": row.get("biz_step"),
                "disposition": row.get("disposition") or None,
                "facility_id": facility_id,
                "place": row.get("place"),
                "source": row.get("source") or None,
                "destination": row.get("destination") or None,
                "quantity": row.get("quantity"),
                "unit": row.get("unit"),
                "note": row.get("note"),
                "inputs": parse_input_lots(row.get("inputs") or ""),
            }
            created.append(
                record_event(
                    session,
                    business_id,
                    batch_id,
                    data,
                    now,
                    origin="csv",
                    max_events=None,  # checked above for the whole file
                    max_inputs=max_inputs,
                )
            )
        except ValidationError as error:
            raise ValidationError(
                N_("line %(line)s: %(problem)s"),
                field="file",
                line=number,
                problem=error.message,
            ) from error
    if not created:
        raise ValidationError(N_("the CSV has no events"), field="file")
    return created


def parse_input_lots(text: str) -> list[dict[str, Any]]:
    """Input lots written by hand: ``GTIN/LOT``, a bare lot, or ``#<batch id>``, separated by
    ``;`` or line breaks."""
    items: list[dict[str, Any]] = []
    for part in (p.strip() for p in text.replace("\n", ";").split(";")):
        if not part:
            continue
        if part.startswith("#") and part[1:].isdigit():
            items.append({"batch_id": int(part[1:])})
        elif "/" in part:
            gtin, _, lot = part.partition("/")
            items.append({"gtin": gtin.strip() or None, "lot": lot.strip()})
        else:
            items.append({"lot": part})
    return items


# --- journeys --------------------------------------------------------------------------------


# What a public page shows of a journey: a bounded summary, read in a fixed number of
# statements however many steps and inputs a batch has (issue 16: 5,000 steps of 50 inputs
# each once took a stamp page 16 s and 1.9 MB). The rest is a page of the full journey away.
JOURNEY_STEPS = 20  # the batch's last steps on the stamp page
JOURNEY_PAGE_STEPS = 50  # steps per page of the full journey
INPUT_LOTS_SHOWN = 10  # input lots summarised (of how many there are)
INPUT_STEPS = 5  # each shown input lot's last steps
STEP_INPUT_LABELS = 10  # input lots named under one step (of how many it has)
PASSPORT_INPUT_LOTS = 100  # input lots a passport lists, each with its last steps:
PASSPORT_INPUT_STEPS = 20


@dataclass
class JourneyStep:
    event: TraceEventRecord
    business_name: str
    facility: Facility | None
    source_name: str | None
    destination_name: str | None
    inputs: list[tuple[TraceEventInput, str | None]] = field(default_factory=list)  # input, label
    # True: the name is a business on TraceQR (a shipment's partner, or the recorder itself);
    # False: text the recorder wrote, which nobody checked.
    source_on_traceqr: bool = False
    destination_on_traceqr: bool = False
    input_count: int = 0  # all its inputs; ``inputs`` names the first STEP_INPUT_LABELS


@dataclass
class Journey:
    """Some of a batch's steps, oldest first: ``first_step`` is the 0-based position of the
    first of them among all ``step_count``."""

    batch: Batch
    product_name: str
    business_name: str
    steps: list[JourneyStep]
    inputs: list[Journey] = field(default_factory=list)  # the lots it was made from, one level down
    step_count: int = 0
    first_step: int = 0
    input_count: int = 0  # lots on TraceQR it was made from; ``inputs`` holds the first few

    @property
    def more_steps(self) -> bool:
        return len(self.steps) < self.step_count

    @property
    def more_inputs(self) -> bool:
        return len(self.inputs) < self.input_count


def journey(
    session: Session,
    batch_id: int,
    *,
    last: int | None = None,
    page: int | None = None,
    per_page: int = JOURNEY_PAGE_STEPS,
    input_lots: int = INPUT_LOTS_SHOWN,
    input_steps: int = INPUT_STEPS,
) -> Journey:
    """A batch's journey: its ``last`` steps, or page ``page`` (from 1) of ``per_page`` steps,
    or every step; with the first ``input_lots`` lots it was made from, each with its last
    ``input_steps`` steps and its count of steps. A fixed number of statements."""
    found = session.execute(
        select(Batch, Product.name, Business.name)
        .join(Product, Product.id == Batch.product_id)
        .join(Business, Business.id == Batch.business_id)
        .where(Batch.id == batch_id)
    ).first()
    if found is None:
        raise NotFound(N_("batch %(id)s not found"), id=batch_id)
    batch, product_name, business_name = found
    step_count = (
        session.scalar(
            select(func.count())
            .select_from(TraceEventRecord)
            .where(TraceEventRecord.batch_id == batch_id)
        )
        or 0
    )
    ordered = select(TraceEventRecord).where(TraceEventRecord.batch_id == batch_id)
    if page is not None:
        first = (max(page, 1) - 1) * per_page
        query = ordered.order_by(TraceEventRecord.event_time, TraceEventRecord.id)
        events = list(session.scalars(query.offset(first).limit(per_page)))
    elif last is not None:
        first = max(step_count - last, 0)
        query = ordered.order_by(TraceEventRecord.event_time.desc(), TraceEventRecord.id.desc())
        events = list(reversed(session.scalars(query.limit(last)).all()))
    else:
        first = 0
        events = list(
            session.scalars(ordered.order_by(TraceEventRecord.event_time, TraceEventRecord.id))
        )
    result = Journey(
        batch=batch,
        product_name=product_name,
        business_name=business_name,
        steps=[],
        step_count=step_count,
        first_step=first,
    )

    # The lots it was made from (on TraceQR), in the order they were first used.
    made_from = (
        select(TraceEventInput.batch_id, func.min(TraceEventInput.id).label("first_use"))
        .join(TraceEventRecord, TraceEventRecord.id == TraceEventInput.event_id)
        .where(
            TraceEventRecord.batch_id == batch_id,
            TraceEventInput.batch_id.is_not(None),
            TraceEventInput.batch_id != batch_id,
        )
        .group_by(TraceEventInput.batch_id)
    )
    used = made_from.subquery()
    result.input_count = session.scalar(select(func.count()).select_from(used)) or 0
    source_ids = (
        list(session.scalars(select(used.c.batch_id).order_by(used.c.first_use).limit(input_lots)))
        if result.input_count and input_lots
        else []
    )
    sources: dict[int, Journey] = {}
    source_events: list[TraceEventRecord] = []
    if source_ids:
        for source, name, owner in session.execute(
            select(Batch, Product.name, Business.name)
            .join(Product, Product.id == Batch.product_id)
            .join(Business, Business.id == Batch.business_id)
            .where(Batch.id.in_(source_ids))
        ):
            sources[source.id] = Journey(
                batch=source, product_name=name, business_name=owner, steps=[]
            )
        for source_id, count in session.execute(
            select(TraceEventRecord.batch_id, func.count())
            .where(TraceEventRecord.batch_id.in_(source_ids))
            .group_by(TraceEventRecord.batch_id)
        ):
            sources[source_id].step_count = count
        if input_steps:
            position = (
                func.row_number()
                .over(
                    partition_by=TraceEventRecord.batch_id,
                    order_by=(TraceEventRecord.event_time.desc(), TraceEventRecord.id.desc()),
                )
                .label("position")
            )
            latest = (
                select(TraceEventRecord.id, position)
                .where(TraceEventRecord.batch_id.in_(source_ids))
                .subquery()
            )
            source_events = list(
                session.scalars(
                    select(TraceEventRecord)
                    .join(latest, latest.c.id == TraceEventRecord.id)
                    .where(latest.c.position <= input_steps)
                    .order_by(TraceEventRecord.event_time, TraceEventRecord.id)
                )
            )
        for source_id in source_ids:
            if source_id in sources:
                journey_of = sources[source_id]
                journey_of.first_step = max(journey_of.step_count - input_steps, 0)
                result.inputs.append(journey_of)

    steps = _steps(session, events + source_events)
    result.steps = [steps[e.id] for e in events]
    for event in source_events:
        sources[event.batch_id].steps.append(steps[event.id])
    return result


def _steps(session: Session, events: list[TraceEventRecord]) -> dict[int, JourneyStep]:
    """Each event as a step: names, facility, and its first input lots, batched."""
    if not events:
        return {}
    ids = [e.id for e in events]
    parties = _shown_parties(session, {e.batch_id for e in events}, events)
    names = _business_names(session, events, parties)
    facility_ids = {e.facility_id for e in events if e.facility_id}
    places = (
        {f.id: f for f in session.scalars(select(Facility).where(Facility.id.in_(facility_ids)))}
        if facility_ids
        else {}
    )
    counts = dict(
        session.execute(
            select(TraceEventInput.event_id, func.count())
            .where(TraceEventInput.event_id.in_(ids))
            .group_by(TraceEventInput.event_id)
        ).all()
    )
    inputs: dict[int, list[TraceEventInput]] = {}
    labels: dict[int, str] = {}
    if counts:
        position = (
            func.row_number()
            .over(partition_by=TraceEventInput.event_id, order_by=TraceEventInput.id)
            .label("position")
        )
        first = (
            select(TraceEventInput.id, position)
            .where(TraceEventInput.event_id.in_(list(counts)))
            .subquery()
        )
        rows = list(
            session.scalars(
                select(TraceEventInput)
                .join(first, first.c.id == TraceEventInput.id)
                .where(first.c.position <= STEP_INPUT_LABELS)
                .order_by(TraceEventInput.id)
            )
        )
        for row in rows:
            inputs.setdefault(row.event_id, []).append(row)
        lots = {row.batch_id for row in rows if row.batch_id is not None}
        if lots:
            labels = {
                lot_id: f"{name} · {lot}"
                for lot_id, lot, name in session.execute(
                    select(Batch.id, Batch.lot, Product.name)
                    .join(Product, Product.id == Batch.product_id)
                    .where(Batch.id.in_(lots))
                )
            }
    steps = {}
    for event in events:
        source_id, destination_id = parties[event.id]
        steps[event.id] = JourneyStep(
            event=event,
            business_name=names.get(event.business_id, ""),
            facility=places.get(event.facility_id) if event.facility_id else None,
            source_name=names.get(source_id) if source_id else event.source_text,
            destination_name=names.get(destination_id)
            if destination_id
            else event.destination_text,
            inputs=[
                (
                    item,
                    labels.get(item.batch_id, " · ")
                    if item.batch_id is not None
                    else item.description,
                )
                for item in inputs.get(event.id, [])
            ],
            source_on_traceqr=source_id is not None,
            destination_on_traceqr=destination_id is not None,
            input_count=counts.get(event.id, 0),
        )
    return steps


@dataclass
class ProductLink:
    """What a GS1 Digital Link without a signature names: a product, maybe one of its lots."""

    product: Product
    business: Business
    batch: Batch | None
    lot_asked: str | None


def resolve_product_link(session: Session, gtin: str, lot: str | None) -> ProductLink | None:
    """The product registered with this GTIN (the earliest, if several businesses did),
    and its batch with this lot when there is one."""
    products = list(
        session.scalars(select(Product).where(Product.gtin == gtin).order_by(Product.id).limit(20))
    )
    if not products:
        return None
    chosen, batch = products[0], None
    if lot is not None:
        for product in products:
            batch = session.scalar(
                select(Batch).where(Batch.product_id == product.id, Batch.lot == lot)
            )
            if batch is not None:
                chosen = product
                break
    business = session.get(Business, chosen.business_id)
    assert business is not None
    return ProductLink(product=chosen, business=business, batch=batch, lot_asked=lot)


def public_journey(session: Session, batch_id: int) -> Journey | None:
    """The journey the stamp page shows, or None when nothing was recorded (one cheap
    indexed look-up on the verification path)."""
    recorded = session.scalar(
        select(TraceEventRecord.id).where(TraceEventRecord.batch_id == batch_id).limit(1)
    )
    return journey(session, batch_id, last=JOURNEY_STEPS) if recorded is not None else None


def _shown_parties(
    session: Session, batch_id: int | set[int], events: list[TraceEventRecord]
) -> dict[int, tuple[int | None, int | None]]:
    """For each of a batch's events, the businesses on TraceQR it shows as its source and
    destination (ids): the partner of an *accepted* shipment (the receiver on the shipment's
    shipping event, the sender on its receiving event), or the recorder itself.

    Any other business id a row holds (a step recorded before partners were checked, a
    shipment still waiting or refused) shows nobody: a business's name appears on another's
    journey only when both took part in the shipment."""
    if not any(e.source_business_id or e.destination_business_id for e in events):
        return {e.id: (None, None) for e in events}
    receivers: dict[int, int] = {}  # shipping event -> receiver
    senders: dict[int, int] = {}  # receiving event -> sender
    for shipping_id, receiving_id, sender, receiver in session.execute(
        select(
            Shipment.shipping_event_id,
            Shipment.receiving_event_id,
            Shipment.from_business_id,
            Shipment.to_business_id,
        ).where(
            Shipment.batch_id.in_(batch_id if isinstance(batch_id, set) else {batch_id}),
            Shipment.status == "accepted",
        )
    ):
        receivers[shipping_id] = receiver
        if receiving_id is not None:
            senders[receiving_id] = sender
    shown: dict[int, tuple[int | None, int | None]] = {}
    for event in events:
        source, destination = event.source_business_id, event.destination_business_id
        if source not in (None, event.business_id, senders.get(event.id)):
            source = None
        if destination not in (None, event.business_id, receivers.get(event.id)):
            destination = None
        shown[event.id] = (source, destination)
    return shown


def _business_names(
    session: Session,
    events: list[TraceEventRecord],
    parties: dict[int, tuple[int | None, int | None]],
) -> dict[int, str]:
    """Names of the events' recorders and of the parties :func:`_shown_parties` shows."""
    ids = {e.business_id for e in events} | {
        party for pair in parties.values() for party in pair if party is not None
    }
    if not ids:
        return {}
    return dict(
        session.execute(select(Business.id, Business.name).where(Business.id.in_(ids))).all()
    )


# --- shipments -------------------------------------------------------------------------------


PARTNER_NOT_FOUND = N_("no verified business on TraceQR has this tax code")


def _tax_code_text(value: Any) -> str | None:
    """A tax code as people write it (0109900009, 0109900009-001, 0109 900 009): its 10 or
    13 digits, or None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    digits = str(value).strip().replace("-", "").replace(" ", "").replace(".", "")
    if digits.isascii() and digits.isdigit() and len(digits) in (10, 13):
        return digits
    return None


def find_partner(session: Session, value: Any) -> Business:
    """The partner a shipment goes to: the *verified* business with this tax code (mã số
    thuế). A tax code belongs to at most one verified business (a unique index says so);
    unverified or withdrawn businesses that carry it are never found, and the answer for
    them is the same as for a tax code nobody carries. Never by id: ids can be guessed."""
    code = _tax_code_text(value)
    partner = (
        session.scalar(
            select(Business).where(
                Business.tax_code == code, Business.verification_status == "verified"
            )
        )
        if code is not None
        else None
    )
    if partner is None:
        raise ValidationError(PARTNER_NOT_FOUND, field="partner")
    return partner


def _verified_business(session: Session, business_id: int) -> Business:
    partner = session.get(Business, business_id)
    if partner is None or partner.verification_status != "verified":
        raise ValidationError(PARTNER_NOT_FOUND, field="partner")
    return partner


def ship(
    session: Session,
    business_id: int,
    batch_id: int,
    partner: str | int,
    data: dict[str, Any],
    now: datetime,
) -> Shipment:
    """Ship a batch the business holds to a verified partner, which accepts or refuses it.

    ``partner`` is what a person gave: the partner's tax code, as text. Web callers pass
    text only (a number in a JSON body is read as a tax code). An ``int`` is a business id
    and is for code that already knows the partner (the demo data); it too reaches only a
    verified business. Any business that holds the batch may ship it, verified or not: the
    partner sees who sent it and decides.
    """
    batch = batch_for_events(session, business_id, batch_id)
    if isinstance(partner, int) and not isinstance(partner, bool):
        to = _verified_business(session, partner)
    else:
        to = find_partner(session, partner)
    if to.id == business_id:
        raise ValidationError(N_("a shipment goes to another business"), field="partner")
    event = record_event(
        session,
        business_id,
        batch.id,
        {**data, "biz_step": "shipping", "source": None, "destination": None, "inputs": None},
        now,
        origin="shipment",
        via_shipment=("destination", to.id),
    )
    shipment = Shipment(
        batch_id=batch.id,
        from_business_id=business_id,
        to_business_id=to.id,
        status="sent",
        quantity=event.quantity,
        unit=event.unit,
        shipping_event_id=event.id,
        sent_at=now,
    )
    session.add(shipment)
    session.flush()
    return shipment


def shipments(session: Session, business_id: int) -> tuple[list[Shipment], list[Shipment]]:
    """(incoming, outgoing), newest first."""
    rows = session.scalars(
        select(Shipment)
        .where(
            or_(Shipment.to_business_id == business_id, Shipment.from_business_id == business_id)
        )
        .order_by(Shipment.id.desc())
        .limit(200)
    ).all()
    return (
        [s for s in rows if s.to_business_id == business_id],
        [s for s in rows if s.from_business_id == business_id],
    )


def answer_shipment(
    session: Session,
    business_id: int,
    shipment_id: int,
    accept: bool,
    data: dict[str, Any],
    now: datetime,
) -> Shipment:
    """The partner accepts (a receiving event on the batch, recorded by them) or refuses.

    Only a business still verified accepts: one whose verification was withdrawn after the
    shipment was sent may only refuse it."""
    shipment = session.get(Shipment, shipment_id)
    if shipment is None or shipment.to_business_id != business_id:
        raise NotFound(N_("no such shipment"))
    if shipment.status != "sent":
        raise Conflict(N_("this shipment was already answered"))
    if accept:
        receiver = session.get(Business, business_id)
        if receiver is None or receiver.verification_status != "verified":
            raise Conflict(
                N_("only a verified business accepts a shipment: your business may refuse it")
            )
    shipment.answered_at = now
    if not accept:
        shipment.status = "refused"
        session.flush()
        return shipment
    shipment.status = "accepted"
    session.flush()
    event = record_event(
        session,
        business_id,
        shipment.batch_id,
        {
            **data,
            "biz_step": "receiving",
            "source": None,
            "destination": None,
            "quantity": data.get("quantity", shipment.quantity),
            "unit": data.get("unit", shipment.unit),
        },
        now,
        origin="shipment",
        via_shipment=("source", shipment.from_business_id),
    )
    shipment.receiving_event_id = event.id
    session.flush()
    return shipment


# --- exports ---------------------------------------------------------------------------------


def lot_ref(session: Session, batch: Batch, public_url: str) -> LotRef:
    product = session.get(Product, batch.product_id)
    gtin = product.gtin if product else None
    return LotRef(
        gtin=gtin, lot=batch.lot, uri=None if gtin else f"{public_url.lower()}/lots/{batch.id}"
    )


def business_party(
    session: Session, business_id: int | None, text: str | None, public_url: str
) -> Party | None:
    """A party for EPCIS: a business on TraceQR (only ids :func:`_shown_parties` gives, or
    a recorder), else the text as written."""
    if business_id is not None:
        business = session.get(Business, business_id)
        if business is not None:
            return Party(name=business.name, uri=f"{public_url.lower()}/businesses/{business.id}")
    return Party(name=text) if text else None


def trace_events(session: Session, batch: Batch, public_url: str) -> list[TraceEvent]:
    """The batch's events as domain values (for EPCIS export)."""
    events = session.scalars(
        select(TraceEventRecord)
        .where(TraceEventRecord.batch_id == batch.id)
        .order_by(TraceEventRecord.event_time, TraceEventRecord.id)
    ).all()
    output = lot_ref(session, batch, public_url)
    parties = _shown_parties(session, batch.id, list(events))
    result: list[TraceEvent] = []
    for event in events:
        source_id, destination_id = parties[event.id]
        facility = session.get(Facility, event.facility_id) if event.facility_id else None
        place = None
        if facility is not None:
            place = Place(
                name=facility.name,
                gln=facility.gln,
                address=facility.address,
                uri=f"{public_url.lower()}/facilities/{facility.id}",
            )
        elif event.place_text or event.place_gln:
            place = Place(name=event.place_text or "", gln=event.place_gln)
        inputs = []
        for item in session.scalars(
            select(TraceEventInput).where(TraceEventInput.event_id == event.id)
        ):
            if item.batch_id is not None:
                source_batch = session.get(Batch, item.batch_id)
                if source_batch is not None:
                    inputs.append(
                        Quantity(
                            lot_ref(session, source_batch, public_url), item.quantity, item.unit
                        )
                    )
            elif item.lot:
                inputs.append(
                    Quantity(
                        LotRef(
                            gtin=item.gtin,
                            lot=item.lot,
                            uri=None
                            if item.gtin
                            else f"{public_url.lower()}/lots/external/{quote(item.lot, safe='')}",
                        ),
                        item.quantity,
                        item.unit,
                    )
                )
        result.append(
            TraceEvent(
                event_id=event.event_uuid,
                kind=EventKind(event.kind),
                event_time=event.event_time.astimezone(_zone(event.time_zone)),
                biz_step=event.biz_step,
                disposition=event.disposition,
                action=Action(event.action) if event.action else None,
                outputs=(Quantity(output, event.quantity, event.unit),),
                inputs=tuple(inputs),
                place=place,
                source=business_party(session, source_id, event.source_text, public_url),
                destination=business_party(
                    session, destination_id, event.destination_text, public_url
                ),
                actor=business_party(session, event.business_id, None, public_url),
                note=event.note,
            )
        )
    return result


def _zone(offset: str) -> Any:
    from traceqr.domain.trace import zone

    try:
        return zone(offset)
    except ValueError:
        return VIETNAM_TZ


# --- JSON shapes (API, passport) -------------------------------------------------------------


def facility_json(facility: Facility) -> dict[str, Any]:
    return {
        "id": facility.id,
        "name": facility.name,
        "kind": facility.kind,
        "address": facility.address,
        "province_code": facility.province_code,
        "gln": facility.gln,
    }


def _party_json(
    names: dict[int, str], business_id: int | None, text: str | None
) -> dict[str, Any] | None:
    """``{"id", "name"}`` of a business on TraceQR, or ``{"id": null, "name"}`` of a name
    the recorder wrote (not checked)."""
    if business_id is not None:
        return {"id": business_id, "name": names.get(business_id)}
    return {"id": None, "name": text} if text else None


def event_json(session: Session, event: TraceEventRecord) -> dict[str, Any]:
    return events_json(session, event.batch_id, only=[event])[0]


def events_json(
    session: Session, batch_id: int, *, only: list[TraceEventRecord] | None = None
) -> list[dict[str, Any]]:
    """A batch's events (or just ``only``), oldest first, as the API answers them."""
    events = (
        only
        if only is not None
        else list(
            session.scalars(
                select(TraceEventRecord)
                .where(TraceEventRecord.batch_id == batch_id)
                .order_by(TraceEventRecord.event_time, TraceEventRecord.id)
            )
        )
    )
    parties = _shown_parties(session, {e.batch_id for e in events} or {batch_id}, events)
    names = _business_names(session, events, parties)
    facility_ids = {e.facility_id for e in events if e.facility_id}
    places = (
        {f.id: f for f in session.scalars(select(Facility).where(Facility.id.in_(facility_ids)))}
        if facility_ids
        else {}
    )
    inputs_of: dict[int, list[TraceEventInput]] = {}
    if events:
        for row in session.scalars(
            select(TraceEventInput)
            .where(TraceEventInput.event_id.in_([e.id for e in events]))
            .order_by(TraceEventInput.id)
        ):
            inputs_of.setdefault(row.event_id, []).append(row)
    result = []
    for event in events:
        source_id, destination_id = parties[event.id]
        facility = places.get(event.facility_id) if event.facility_id else None
        inputs = inputs_of.get(event.id, [])
        result.append(
            {
                "id": event.event_uuid,
                "batch_id": event.batch_id,
                "kind": event.kind,
                "action": event.action,
                "biz_step": event.biz_step,
                "disposition": event.disposition,
                "event_time": event.event_time.astimezone(_zone(event.time_zone)).isoformat(),
                "time_zone": event.time_zone,
                "recorded_by": {"id": event.business_id, "name": names.get(event.business_id)},
                "facility": facility_json(facility) if facility else None,
                "place": event.place_text,
                "place_gln": event.place_gln,
                "source": _party_json(names, source_id, event.source_text),
                "destination": _party_json(names, destination_id, event.destination_text),
                "quantity": event.quantity,
                "unit": event.unit,
                "inputs": [
                    {
                        "batch_id": item.batch_id,
                        "gtin": item.gtin,
                        "lot": item.lot,
                        "description": item.description,
                        "quantity": item.quantity,
                        "unit": item.unit,
                    }
                    for item in inputs
                ],
                "note": event.note,
                "origin": event.origin,
            }
        )
    return result


def shipment_json(session: Session, shipment: Shipment) -> dict[str, Any]:
    batch = session.get(Batch, shipment.batch_id)
    product = session.get(Product, batch.product_id) if batch else None
    names = dict(
        session.execute(
            select(Business.id, Business.name).where(
                Business.id.in_((shipment.from_business_id, shipment.to_business_id))
            )
        ).all()
    )
    return {
        "id": shipment.id,
        "batch_id": shipment.batch_id,
        "lot": batch.lot if batch else "",
        "product": product.name if product else "",
        "sender": {"id": shipment.from_business_id, "name": names.get(shipment.from_business_id)},
        "receiver": {"id": shipment.to_business_id, "name": names.get(shipment.to_business_id)},
        "status": shipment.status,
        "quantity": shipment.quantity,
        "unit": shipment.unit,
        "sent_at": iso_vietnam(shipment.sent_at),
        "answered_at": iso_vietnam(shipment.answered_at),
    }


# --- EPCIS 2.0 -------------------------------------------------------------------------------


def epcis_document(
    session: Session, batch: Batch, public_url: str, now: datetime
) -> dict[str, Any]:
    from traceqr.domain.epcis import export_document

    return export_document(trace_events(session, batch, public_url), created=now)


@dataclass
class ImportResult:
    created: list[TraceEventRecord]
    already_present: int


def _held_batch_for_lot(
    session: Session, business_id: int, lot: LotRef, public_url: str
) -> Batch | None:
    prefix = f"{public_url.lower()}/lots/"
    if lot.gtin is None and lot.uri and lot.uri.lower().startswith(prefix):
        tail = lot.uri[len(prefix) :]
        batch = session.get(Batch, int(tail)) if tail.isdigit() and len(tail) < 12 else None
    elif lot.gtin is not None:
        batch = None
        for candidate in session.scalars(
            select(Batch)
            .join(Product, Product.id == Batch.product_id)
            .where(Product.gtin == lot.gtin, Batch.lot == lot.lot)
        ):
            if holds_batch(session, business_id, candidate):
                batch = candidate
                break
    else:
        return None
    if batch is None or not holds_batch(session, business_id, batch):
        return None
    return batch


def _party_value(party: Party | None, public_url: str) -> int | str | None:
    if party is None:
        return None
    prefix = f"{public_url.lower()}/businesses/"
    if party.uri and party.uri.lower().startswith(prefix):
        tail = party.uri[len(prefix) :]
        if tail.isdigit() and len(tail) < 12:
            return int(tail)
    return party.name or party.gln or party.uri


def import_epcis(
    session: Session,
    business_id: int,
    text: str,
    public_url: str,
    now: datetime,
    *,
    max_events: int = MAX_EVENTS_PER_BATCH,
    max_inputs: int = MAX_INPUTS,
) -> ImportResult:
    """Events from an EPCIS 2.0 document, each about a lot the business holds; all or none.

    Events already recorded (same eventID, same batch) are counted, not recorded twice.
    """
    from traceqr.domain.epcis import EpcisError, import_document

    try:
        events = import_document(text, max_events=MAX_CSV_ROWS, now=now)
    except EpcisError as exc:
        # The JSON path names the member at fault (epcisBody.eventList[3].bizStep).
        raise ValidationError(exc.template, field=exc.path or "file", **exc.params) from exc
    own_facilities = {f.gln: f.id for f in facilities(session, business_id) if f.gln}
    seen: set[str] = set()
    created: list[TraceEventRecord] = []
    already = 0
    adding: dict[int, int] = {}  # batch -> events this document adds to it
    for number, event in enumerate(events, start=1):
        if event.event_id in seen:
            raise ValidationError(
                N_("event %(n)s repeats the eventID %(id)s"),
                field="file",
                n=number,
                id=event.event_id[:80],
            )
        seen.add(event.event_id)
        if not event.outputs:
            raise ValidationError(N_("event %(n)s names no lot"), field="file", n=number)
        lot = event.outputs[0].lot
        batch = _held_batch_for_lot(session, business_id, lot, public_url)
        if batch is None:
            raise ValidationError(
                N_("event %(n)s is about lot %(lot)s: not one of your batches, nor shipped to you"),
                field="file",
                n=number,
                lot=(f"{lot.gtin}/{lot.lot}" if lot.gtin else lot.uri or lot.lot)[:80],
            )
        existing = session.scalar(
            select(TraceEventRecord).where(TraceEventRecord.event_uuid == event.event_id)
        )
        if existing is not None:
            if existing.batch_id != batch.id:
                raise ValidationError(
                    N_("event %(n)s: its eventID is already used by another event"),
                    field="file",
                    n=number,
                )
            already += 1
            continue
        adding[batch.id] = adding.get(batch.id, 0) + 1
        inputs: list[dict[str, Any]] = []
        for item in event.inputs:
            held = _held_batch_for_lot(session, business_id, item.lot, public_url)
            if held is not None:
                inputs.append({"batch_id": held.id, "quantity": item.amount, "unit": item.unit})
            else:
                inputs.append(
                    {
                        "gtin": item.lot.gtin,
                        "lot": item.lot.lot,
                        # A lot outside TraceQR: keep a foreign identifier, not our own.
                        "description": None
                        if (item.lot.uri or "").lower().startswith(public_url.lower() + "/lots/")
                        else item.lot.uri,
                        "quantity": item.amount,
                        "unit": item.unit,
                    }
                )
        place = event.place
        data = {
            "biz_step": event.biz_step,
            "disposition": event.disposition,
            "event_time": event.event_time,
            "facility_id": own_facilities.get(place.gln) if place and place.gln else None,
            "place": (place.name or place.address) if place else None,
            "place_gln": place.gln if place else None,
            "source": _party_value(event.source, public_url),
            "destination": _party_value(event.destination, public_url),
            "quantity": event.outputs[0].amount,
            "unit": event.outputs[0].unit,
            "note": event.note,
            "inputs": inputs,
        }
        if data["facility_id"] is not None:
            data["place"] = data["place_gln"] = None
        try:
            created.append(
                record_event(
                    session,
                    business_id,
                    batch.id,
                    data,
                    now,
                    origin="epcis",
                    event_uuid=event.event_id,
                    max_events=None,  # checked below for the whole document
                    max_inputs=max_inputs,
                )
            )
        except ValidationError as error:
            raise ValidationError(
                N_("event %(n)s: %(problem)s"), field="file", n=number, problem=error.message
            ) from error
    for batch_id, count in adding.items():  # all or none: the caller rolls back
        check_room(session, batch_id, count, max_events, written=True, field="file")
    return ImportResult(created=created, already_present=already)


# --- national portal and digital product passport -------------------------------------------


def passport(session: Session, batch: Batch, public_url: str, now: datetime) -> dict[str, Any]:
    """Product, producer, batch and events, with the content Decree 37/2026 Art. 32 asks of a
    digital product passport: name and GTIN; producer's name, address and ID (tax code);
    origin; traceability data; certifications; NSX/HSD; warnings."""
    from traceqr.models import Certification

    product = session.get(Product, batch.product_id)
    owner = session.get(Business, batch.business_id)
    assert product is not None and owner is not None
    place = province(owner.province_code)
    certifications = session.scalars(
        select(Certification)
        .where(Certification.product_id == product.id)
        .order_by(Certification.id)
    )
    warnings = []
    if batch.recalled_at is not None:
        warnings.append(
            {
                "kind": "recalled",
                "since": iso_vietnam(batch.recalled_at),
                "text": batch.recall_reason,
            }
        )
    if batch.expiry_date is not None and batch.expiry_date < now.astimezone(VIETNAM_TZ).date():
        warnings.append({"kind": "expired", "since": batch.expiry_date.isoformat(), "text": None})
    ref = lot_ref(session, batch, public_url)
    # The lots it was made from, each with its last steps (not its whole journey).
    made_from = journey(
        session, batch.id, last=0, input_lots=PASSPORT_INPUT_LOTS, input_steps=PASSPORT_INPUT_STEPS
    )
    facts = {
        row.id: row
        for row in session.execute(
            select(Batch.id, Product.gtin, Business.tax_code)
            .join(Product, Product.id == Batch.product_id)
            .join(Business, Business.id == Batch.business_id)
            .where(Batch.id.in_([source.batch.id for source in made_from.inputs]))
        )
    }
    steps = events_json(
        session, batch.id, only=[step.event for source in made_from.inputs for step in source.steps]
    )
    journey_inputs = []
    for source in made_from.inputs:
        journey_inputs.append(
            {
                "product": source.product_name,
                "gtin": facts[source.batch.id].gtin,
                "lot": source.batch.lot,
                "producer": {
                    "name": source.business_name,
                    "tax_code": facts[source.batch.id].tax_code,
                },
                "event_count": source.step_count,
                "events": [e for e in steps if e["batch_id"] == source.batch.id],
            }
        )
    return {
        "format": "traceqr-passport/1",
        "generated_at": iso_vietnam(now),
        "id": ref.class_uri(),
        "product": {
            "name": product.name,
            "gtin": product.gtin,
            "brand": product.brand,
            "category": product.category,
            "description": product.description,
            "origin": product.origin,
            "standards": product.standards,
            "certifications": [
                {
                    "kind": c.kind,
                    "number": c.number,
                    "issuer": c.issuer,
                    "grade": c.grade,
                    "valid_from": c.valid_from.isoformat() if c.valid_from else None,
                    "valid_until": c.valid_until.isoformat() if c.valid_until else None,
                }
                for c in certifications
            ],
        },
        "producer": {
            "name": owner.name,
            "legal_name": owner.legal_name,
            "tax_code": owner.tax_code,
            "address": ", ".join(
                p
                for p in (
                    owner.address_street,
                    owner.address_commune,
                    place.name_vi if place else None,
                )
                if p
            )
            or None,
            "province_code": owner.province_code,
            "industrial_cluster": owner.cluster_name,
            "phone": owner.phone,
            "website": owner.website,
        },
        "batch": {
            "lot": batch.lot,
            "production_date": batch.production_date.isoformat() if batch.production_date else None,
            "expiry_date": batch.expiry_date.isoformat() if batch.expiry_date else None,
            "quantity": batch.quantity,
            "facility": batch.facility,
        },
        "warnings": warnings,
        "events": events_json(session, batch.id),
        "inputs": journey_inputs,
        "input_count": made_from.input_count,
    }
