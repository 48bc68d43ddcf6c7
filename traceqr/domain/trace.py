"""Trace events: who did what to which lot, where, when and why (TCVN 12850 / GS1 GTS).

The vocabulary is the GS1 Core Business Vocabulary (CBV 2.0): a business step and a
disposition per event. Events are kept as plain values here; the database, the API, the
portal, EPCIS 2.0 export and import all map to and from :class:`TraceEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum


class EventKind(StrEnum):
    OBJECT = "ObjectEvent"  # something happened to lots: commissioned, packed, shipped …
    TRANSFORMATION = "TransformationEvent"  # input lots became an output lot


class Action(StrEnum):
    ADD = "ADD"  # the lot comes into being (commissioning): only then may ILMD be given
    OBSERVE = "OBSERVE"
    DELETE = "DELETE"  # the lot ends (destroying, decommissioning)


# CBV 2.0 business steps TraceQR records, with the disposition each usually leaves.
BIZ_STEPS: dict[str, str | None] = {
    "commissioning": "active",
    "receiving": "in_progress",
    "accepting": "in_progress",
    "inspecting": "in_progress",
    "storing": "in_progress",
    "transforming": "in_progress",
    "packing": "in_progress",
    "shipping": "in_transit",
    "departing": "in_transit",
    "arriving": "in_progress",
    "retail_selling": "retail_sold",
    "destroying": "destroyed",
    "decommissioning": "inactive",
    "holding": "sellable_not_accessible",
    "recalling": "recalled",
}
DISPOSITIONS = frozenset(
    {
        "active",
        "in_progress",
        "in_transit",
        "retail_sold",
        "destroyed",
        "inactive",
        "sellable_accessible",
        "sellable_not_accessible",
        "recalled",
        "expired",
        "damaged",
        "dispensed",
        "returned",
    }
)
VIETNAM_OFFSET = "+07:00"


def offset_text(value: datetime) -> str:
    """``+07:00`` style offset of an aware datetime, as EPCIS writes eventTimeZoneOffset."""
    offset = value.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone(offset: str) -> timezone:
    """The fixed zone of a ``+07:00`` offset (ValueError when it is not one)."""
    if len(offset) != 6 or offset[0] not in "+-" or offset[3] != ":":
        raise ValueError(f"not a time-zone offset: {offset!r}")
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"not a time-zone offset: {offset!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if offset[0] == "-" else delta)


@dataclass(frozen=True, slots=True)
class LotRef:
    """A lot (batch) of a trade item: GTIN-14 and lot number when it has a GTIN, else the
    TraceQR identifier of the batch (``uri``)."""

    gtin: str | None
    lot: str
    uri: str | None = None  # for products without a GTIN: https://<service>/lots/<batch id>

    def class_uri(self) -> str:
        """The EPC class URI: a GS1 Digital Link when there is a GTIN."""
        if self.gtin is not None:
            from urllib.parse import quote

            return f"https://id.gs1.org/01/{self.gtin}/10/{quote(self.lot, safe='')}"
        if self.uri is None:
            raise ValueError("a lot without a GTIN needs a URI")
        return self.uri


@dataclass(frozen=True, slots=True)
class Quantity:
    lot: LotRef
    amount: float | None = None
    unit: str | None = None  # UN/ECE Rec 20 code: KGM, LTR, EA …


@dataclass(frozen=True, slots=True)
class Party:
    """Who: a business on TraceQR (its id) or outside it (a GLN and/or a name)."""

    name: str
    gln: str | None = None  # 13 digits
    uri: str | None = None  # https://<service>/businesses/<id> for TraceQR businesses


@dataclass(frozen=True, slots=True)
class Place:
    """Where: a facility (its GLN when it has one) or a free-text address."""

    name: str
    gln: str | None = None
    address: str | None = None
    uri: str | None = None  # https://<service>/facilities/<id>


@dataclass(frozen=True)
class TraceEvent:
    event_id: str  # a URN (urn:uuid:…), stable across export and import
    kind: EventKind
    event_time: datetime  # aware
    biz_step: str
    disposition: str | None
    action: Action | None  # ObjectEvent only
    outputs: tuple[
        Quantity, ...
    ]  # the lots this event is about (the output lot of a transformation)
    inputs: tuple[Quantity, ...] = ()  # TransformationEvent only
    place: Place | None = None  # bizLocation
    source: Party | None = None  # who sends (shipping/receiving)
    destination: Party | None = None  # who receives
    actor: Party | None = None  # who recorded it
    note: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)

    @property
    def time_zone(self) -> str:
        return offset_text(self.event_time)
