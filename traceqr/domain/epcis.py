"""EPCIS 2.0 JSON-LD export and import of trace events (GS1 EPCIS 2.0 / CBV 2.0).

Export
    :func:`export_document` turns :class:`~traceqr.domain.trace.TraceEvent` values into an
    ``EPCISDocument`` that validates against the published EPCIS 2.0 JSON schema. Lots are
    ``quantityList`` entries (class level: TraceQR records lots, not serial numbers); CBV
    values are written in the short form EPCIS 2.0 JSON asks for (``shipping``,
    ``in_transit``, ``owning_party``). What EPCIS has no member for travels in members of
    the ``tqr`` namespace (declared in ``@context``, see :data:`TQR_NAMESPACE`):

    ``tqr:note``
        the event's note;
    ``tqr:place``, ``tqr:source``, ``tqr:destination``
        ``{"name", "address"?, "uri"?}``: the names behind ``bizLocation`` and the
        owning parties of ``sourceList``/``destinationList`` (which carry the identifiers:
        a GLN as ``https://id.gs1.org/414/…`` for places, ``…/417/…`` for parties, else the
        TraceQR URI); ``uri`` only when a GLN took the standard member's place;
    ``tqr:actor``
        ``{"name", "gln"?, "uri"?}``: who recorded the event;
    ``tqr:lots``
        ``{epcClass: lot number}`` for lots without a GTIN, whose TraceQR URI does not
        hold the lot number;
    ``tqr:extensions``
        the event's other extensions, ``{key: text}``.

    Lot master data (ILMD) is written only on ``ADD`` object events and on transformation
    events (it describes the outputs): :data:`ILMD_TERMS` lists the extension keys that
    go there. TraceQR business steps that CBV lacks (``transforming``, ``recalling``) are
    written as ``tqr:<step>``.

Import
    :func:`import_document` is strict and all-or-nothing: it returns every event or raises
    :class:`EpcisError` naming the first problem (a stable ``reason``, a translatable
    message and the JSON path). It never goes to the network: ``@context`` URLs are
    compared with the known EPCIS contexts, not fetched, and the schema may refer only
    inside itself (see :func:`schema_validator`).

    Accepted lot classes (``epcClass``):

    * a GS1 Digital Link lot class, ``http(s)://{any host}[/{prefix}]/01/{GTIN}/10/{lot}``
      (GTIN-8/12/13/14 with a valid check digit, kept as GTIN-14; lot: 1–20 characters of
      GS1 CSET 82 once percent-decoded);
    * an EPC pure-identity lot class, ``urn:epc:class:lgtin:{company prefix}.{item ref}.{lot}``;
    * a TraceQR lot URI, ``http(s)://{any host}[/{prefix}]/lots/{id}`` or
      ``…/lots/external/{lot}``: a lot without a GTIN. Its lot number is taken from
      ``tqr:lots`` or else from the last path segment; either way it must follow the same
      CSET 82 rule.

    Kept: the members above. Accepted but not kept (context only): ``recordTime``,
    ``readPoint``, ``bizTransactionList``, ``certificationInfo``, ``transformationID``,
    ``location`` entries of source/destination lists, other extension members (any
    ``prefix:name`` or absolute-URI member outside ``tqr``), ILMD members other than
    :data:`ILMD_TERMS`, the document's header and sender/receiver. Refused (they would
    change what the event says and TraceQR cannot keep them): serial-level EPC lists,
    sensor data, persistent dispositions, error declarations.

    The semantic checks run before the schema so that the usual mistakes get a precise
    reason; the schema then catches the rest. A document passes only if both agree.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from os import PathLike, fspath
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote

import fastjsonschema

from traceqr.domain.gs1 import GS1Error, check_digit, normalize_gtin, validate_lot
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
    zone,
)
from traceqr.errors import N_

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# Context URLs that name the standard EPCIS 2.0 context; they are recognised, never fetched.
KNOWN_CONTEXTS = frozenset(
    {
        EPCIS_CONTEXT,
        "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
        "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    }
)
# The namespace of TraceQR's own members (``tqr:note`` …). It is an identifier, not fetched.
TQR_NAMESPACE = "https://github.com/traceqr/traceqr/blob/main/docs/traceability.md#tqr-"
TQR_PREFIX = "tqr"
# Prefixes the standard context defines; a document may not point them elsewhere.
STANDARD_PREFIXES = frozenset(
    {"epcis", "cbv", "cbvmda", "gs1", "rdfs", "owl", "xsd", "dcterms", "rdf", "schema", "sh"}
)

SCHEMA_FILE = "EPCISDocument.schema.json"
# Where the runtime copy of the published schema lives (see tests/fixtures/epcis/README.md).
DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "epcis" / SCHEMA_FILE

# CBV 2.0 business steps and dispositions, as the EPCIS 2.0 JSON schema lists them.
# fmt: off
CBV_BIZ_STEPS = frozenset({
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
    "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
    "repackaging", "repairing", "replacing", "reserving", "retail_selling", "shipping",
    "staging_outbound", "stock_taking", "stocking", "storing", "transporting", "unloading",
    "unpacking", "void_shipping", "sensor_reporting", "sampling",
})
CBV_DISPOSITIONS = frozenset({
    "active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded",
    "expired", "in_progress", "in_transit", "inactive", "no_pedigree_match", "non_sellable_other",
    "partially_dispensed", "recalled", "reserved", "retail_sold", "returned",
    "sellable_accessible", "sellable_not_accessible", "stolen", "unknown", "available",
    "completeness_verified", "completeness_inferred", "conformant", "container_open",
    "mismatch_instance", "mismatch_class", "mismatch_quantity", "needs_replacement",
    "non_conformant", "unavailable",
})
# fmt: on
SOURCE_DEST_TYPES = frozenset({"owning_party", "possessing_party", "location"})

# Extension keys written as lot master data (ILMD); their values are ISO dates.
ILMD_TERMS: dict[str, str] = {
    "expiry_date": "cbvmda:itemExpirationDate",
    "best_before_date": "cbvmda:bestBeforeDate",
    "sell_by_date": "cbvmda:sellByDate",
    "production_date": "tqr:productionDate",
}
_ILMD_KEYS = {term: key for key, term in ILMD_TERMS.items()} | {
    "urn:epcglobal:cbv:mda:" + term.split(":", 1)[1]: key
    for key, term in ILMD_TERMS.items()
    if term.startswith("cbvmda:")
}

# Limits.
MAX_DEPTH = 32
MAX_STRING = 2000  # any string in the document
MAX_KEY = 500  # any member name (tqr:lots names lots by URI)
MAX_EVENT_ID = 200  # EPCIS hash IDs (ni:///sha-256;…?ver=CBV2.0) run to about 90
MAX_URI = 500
MAX_NAME = 300
MAX_NOTE = 2000
MAX_EXTENSION_VALUE = 300
MAX_QUANTITY = 1e15
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)

_EXTENSION_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_UOM = re.compile(r"[A-Z0-9]{2,3}")
# An absolute URI (RFC 3986 characters, a scheme, valid percent escapes).
_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
)
_SEGMENT = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+"
_HOST = r"(?i:https?)://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?"
_PREFIX = rf"(?:/{_SEGMENT})*?"
_DL_LOT = re.compile(rf"{_HOST}{_PREFIX}/01/([0-9]{{8,14}})/10/({_SEGMENT})")
_DL_GTIN_ONLY = re.compile(rf"{_HOST}{_PREFIX}/01/[0-9]{{8,14}}(?:/.*)?")
_LGTIN = re.compile(r"urn:epc:class:lgtin:([0-9]+)\.([0-9]+)\.(" + _SEGMENT + ")")
_TQR_LOT = re.compile(rf"{_HOST}{_PREFIX}/lots/(?:external/)?({_SEGMENT})")
_DL_GLN = re.compile(rf"{_HOST}{_PREFIX}/(414|417)/([0-9]{{13}})")
_SGLN = re.compile(r"urn:epc:id:sgln:([0-9]+)\.([0-9]*)\.0")
_PGLN = re.compile(r"urn:epc:id:pgln:([0-9]+)\.([0-9]*)")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_IDENTIFIER = re.compile(r"[A-Za-z_@$][A-Za-z0-9_]*")
# C0/C1 controls (TAB, LF, CR aside), lone surrogates, bidirectional overrides, non-characters.
_BAD_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029\x85]")


class EpcisError(ValueError):
    """An EPCIS document (or an event to export) breaks a rule.

    ``reason`` is a stable code, ``path`` the JSON path of the offending member
    (``epcisBody.eventList[3].bizStep``; ``events[3].note`` on export), ``template`` and
    ``params`` let a page translate the message.
    """

    def __init__(self, reason: str, template: str, path: str, **params: object) -> None:
        self.reason = reason
        self.template = template
        self.path = path
        self.params = params
        self.message = template % params if params else template
        super().__init__(f"{path}: {self.message}" if path else self.message)


# --- paths and small checks -------------------------------------------------------------------

JsonPath = tuple[str | int, ...]


def format_path(parts: Sequence[str | int]) -> str:
    """``("epcisBody", "eventList", 3, "bizStep")`` → ``epcisBody.eventList[3].bizStep``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += "[" + json.dumps(part, ensure_ascii=False) + "]"
    return out


def _fail(reason: str, template: str, path: JsonPath, **params: object) -> NoReturn:
    raise EpcisError(reason, template, format_path(path), **params)


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _expect(value: object, kind: type | tuple[type, ...], path: JsonPath, expected: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        _fail(
            "schema_invalid",
            N_("%(expected)s expected, not %(found)s"),
            path,
            expected=expected,
            found=_type_name(value),
        )
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _text(value: object, path: JsonPath, limit: int, *, multiline: bool = False) -> str:
    text = _expect(value, str, path, "a string")
    if len(text) > limit:
        _fail(
            "text_too_long",
            N_("at most %(limit)s characters, not %(length)s"),
            path,
            limit=limit,
            length=len(text),
        )
    bad = _BAD_CHARS.search(text) or (None if multiline else _LINE_BREAKS.search(text))
    if bad:
        _fail(
            "bad_text",
            N_("the text holds a control or invisible character (%(char)s)"),
            path,
            char=f"U+{ord(bad.group()):04X}",
        )
    return text


def is_uri(value: object) -> bool:
    """An absolute URI: a scheme, then RFC 3986 characters with valid percent escapes."""
    return isinstance(value, str) and _URI.fullmatch(value) is not None


def parse_time(text: str) -> datetime:
    """An RFC 3339 date-time with its offset (``Z`` or ``±hh:mm``); ValueError otherwise.

    Fractions beyond microseconds are cut, as Python keeps no more.
    """
    match = _DATE_TIME.fullmatch(text)
    if not match:
        raise ValueError("not an RFC 3339 date-time with an offset")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = UTC if offset == "Z" else zone(offset)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def _gln(digits: str, path: JsonPath) -> str:
    if len(digits) != 13 or not digits.isascii() or not digits.isdigit():
        _fail("bad_gln", N_("a GLN has 13 digits"), path)
    if check_digit(digits[:-1]) != int(digits[-1]):
        _fail(
            "bad_gln",
            N_("the check digit should be %(expected)s, not %(given)s"),
            path,
            expected=check_digit(digits[:-1]),
            given=digits[-1],
        )
    return digits


def _lot(text: str, path: JsonPath) -> str:
    try:
        return validate_lot(text)
    except GS1Error as error:
        raise EpcisError("bad_lot", error.template, format_path(path), **error.params) from None


def _gtin(text: str, path: JsonPath) -> str:
    try:
        return normalize_gtin(text)
    except GS1Error as error:
        raise EpcisError("bad_gtin", error.template, format_path(path), **error.params) from None


def _decode_segment(segment: str, path: JsonPath) -> str:
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        _fail("bad_lot", N_("the lot number is not valid UTF-8 once decoded"), path)


def _iso_date(value: object, path: JsonPath) -> str:
    text = _text(value, path, 10)
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        _fail("bad_ilmd", N_("a date as YYYY-MM-DD expected, not %(value)s"), path, value=text)
    return text


# --- identifiers ---------------------------------------------------------------------------------


def lot_from_class(uri: str, path: JsonPath, lots: Mapping[str, str] | None = None) -> LotRef:
    """The lot an ``epcClass`` names (see the module notes for the accepted forms)."""
    if not is_uri(uri) or len(uri) > MAX_URI:
        _fail("bad_epc_class", N_("a lot class URI expected"), path)
    if match := _DL_LOT.fullmatch(uri):
        gtin = _gtin(match.group(1), path)
        return LotRef(gtin=gtin, lot=_lot(_decode_segment(match.group(2), path), path))
    if _DL_GTIN_ONLY.fullmatch(uri):
        _fail(
            "bad_epc_class",
            N_("a GS1 Digital Link lot class is /01/{GTIN}/10/{lot} and nothing more"),
            path,
        )
    if match := _LGTIN.fullmatch(uri):
        prefix, reference, lot = match.groups()
        if len(prefix) + len(reference) != 13 or not 6 <= len(prefix) <= 12:
            _fail("bad_epc_class", N_("an LGTIN has 13 digits of prefix and reference"), path)
        body = reference[0] + prefix + reference[1:]
        return LotRef(
            gtin=body + str(check_digit(body)), lot=_lot(_decode_segment(lot, path), path)
        )
    if match := _TQR_LOT.fullmatch(uri):
        known = (lots or {}).get(uri)
        lot = known if known is not None else _decode_segment(match.group(1), path)
        return LotRef(gtin=None, lot=_lot(lot, path), uri=uri)
    _fail(
        "bad_epc_class",
        N_(
            "a lot class is a GS1 Digital Link (…/01/{GTIN}/10/{lot}), an LGTIN URN "
            "or a TraceQR lot URI (…/lots/{id}); not %(uri)s"
        ),
        path,
        uri=uri[:100],
    )


def _location_ids(uri: str, path: JsonPath, *, party: bool) -> tuple[str | None, str | None]:
    """(gln, uri) of a bizLocation id (``party=False``) or a source/destination party."""
    if not is_uri(uri) or len(uri) > MAX_URI:
        _fail("schema_invalid", N_("a URI expected"), path)
    match = _DL_GLN.fullmatch(uri)
    if match and (party or match.group(1) == "414"):
        return _gln(match.group(2), path), None
    match = (_PGLN if party else _SGLN).fullmatch(uri)
    if match and len(match.group(1)) + len(match.group(2)) == 12:
        body = match.group(1) + match.group(2)
        return body + str(check_digit(body)), None
    return None, uri


def place_id(place: Place) -> str | None:
    """The bizLocation id of a place: its GLN as a Digital Link, else its URI."""
    if place.gln is not None:
        return f"https://id.gs1.org/414/{place.gln}"
    return place.uri


def party_id(party: Party) -> str | None:
    """The source/destination id of a party: its GLN (AI 417) as a Digital Link, else its URI."""
    if party.gln is not None:
        return f"https://id.gs1.org/417/{party.gln}"
    return party.uri


# --- CBV values -------------------------------------------------------------------------------


def _cbv_word(value: str, urn: str, web: str) -> str | None:
    for prefix in (urn, f"https://ref.gs1.org/cbv/{web}-", f"cbv:{web}-"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return None


def biz_step_word(value: str) -> str | None:
    """The bare word of a business step written in any accepted form (None: not one)."""
    if value in CBV_BIZ_STEPS:
        return value
    word = _cbv_word(value, "urn:epcglobal:cbv:bizstep:", "BizStep")
    if word is not None:
        return word
    for prefix in (f"{TQR_PREFIX}:", TQR_NAMESPACE):
        if value.startswith(prefix) and value[len(prefix) :] in BIZ_STEPS.keys() - CBV_BIZ_STEPS:
            return value[len(prefix) :]
    return value if _IDENTIFIER.fullmatch(value) else None


def disposition_word(value: str) -> str | None:
    if value in CBV_DISPOSITIONS:
        return value
    word = _cbv_word(value, "urn:epcglobal:cbv:disp:", "Disp")
    return word if word is not None else (value if _IDENTIFIER.fullmatch(value) else None)


def source_dest_word(value: str) -> str | None:
    if value in SOURCE_DEST_TYPES:
        return value
    return _cbv_word(value, "urn:epcglobal:cbv:sdt:", "SDT")


def _biz_step_out(step: str) -> str:
    return step if step in CBV_BIZ_STEPS else f"{TQR_PREFIX}:{step}"


# --- JSON reading ---------------------------------------------------------------------------------


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _NumberError(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberError(text)
    return value


def _int(text: str) -> int:
    if len(text) > 30:
        raise _NumberError(text)
    return int(text)


def _constant(text: str) -> NoReturn:
    raise _NumberError(text)


def parse_json(data: bytes | str | Mapping[str, Any], *, max_bytes: int) -> Any:
    """JSON text (or an already parsed object, re-checked) under the safety rules."""
    if isinstance(data, Mapping):
        try:
            text = json.dumps(data, allow_nan=False, ensure_ascii=False)
        except RecursionError:
            _fail("too_deep", N_("the document is nested too deeply"), ())
        except ValueError as error:
            if "float" in str(error):  # NaN or ±Infinity
                _fail(
                    "bad_number",
                    N_("%(number)s is not a number this service accepts"),
                    (),
                    number="NaN/Infinity",
                )
            _fail("not_json", N_("this is not JSON: %(detail)s"), (), detail=str(error)[:200])
        except TypeError as error:
            _fail("not_json", N_("this is not JSON: %(detail)s"), (), detail=str(error)[:200])
    elif isinstance(data, str):
        text = data
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > max_bytes:
            _fail(
                "too_large",
                N_("the document has more than %(limit)s bytes"),
                (),
                limit=max_bytes,
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            _fail("not_json", N_("this is not JSON: %(detail)s"), (), detail="not UTF-8")
    else:
        _fail("not_json", N_("this is not JSON: %(detail)s"), (), detail=type(data).__name__)
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        _fail("too_large", N_("the document has more than %(limit)s bytes"), (), limit=max_bytes)
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_float=_float,
            parse_int=_int,
            parse_constant=_constant,
        )
    except _DuplicateKeyError as error:
        _fail(
            "duplicate_key",
            N_("the member %(key)s appears twice in one object"),
            (),
            key=error.key[:100],
        )
    except _NumberError as error:
        _fail(
            "bad_number",
            N_("%(number)s is not a number this service accepts"),
            (),
            number=error.text[:40],
        )
    except RecursionError:
        _fail("too_deep", N_("the document is nested too deeply"), ())
    except ValueError as error:
        _fail("not_json", N_("this is not JSON: %(detail)s"), (), detail=str(error)[:200])


def _walk(document: Any, max_depth: int) -> None:
    """Depth and the character rules, for every string and member name in the document."""
    stack: list[tuple[Any, int, JsonPath]] = [(document, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > max_depth:
            _fail(
                "too_deep",
                N_("the document is nested deeper than %(limit)s levels"),
                path,
                limit=max_depth,
            )
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            child = (*path, key)
            if isinstance(key, str):
                _text(key, child, MAX_KEY)
            if isinstance(value, dict | list):
                stack.append((value, depth + 1, child))
            elif isinstance(value, str):
                _text(value, child, MAX_STRING, multiline=True)


# --- the schema ---------------------------------------------------------------------------------


def load_schema(path: str | PathLike[str] | None = None) -> dict[str, Any]:
    """The published EPCIS 2.0 JSON schema; refuses one that refers outside itself."""
    file = Path(fspath(path)) if path is not None else DEFAULT_SCHEMA_PATH
    schema = json.loads(file.read_text(encoding="utf-8"))
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                raise ValueError(f"{file}: the schema refers outside itself ({ref})")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return schema


def _no_fetch(uri: str) -> NoReturn:
    raise ValueError(f"the schema may not refer to {uri}: nothing is fetched")


@lru_cache(maxsize=4)
def schema_validator(path: str | None = None) -> Callable[[Any], Any]:
    """The compiled EPCIS 2.0 schema (JSON Schema draft 7), from ``path`` or the default.

    fastjsonschema compiles the schema to Python once: a document of 10,000 events takes
    about two seconds, where an interpreting validator takes half a minute. Nothing is
    fetched: the schema may only refer inside itself, and every URL scheme's handler
    refuses. The ``uri`` and ``date-time`` formats are :func:`is_uri` and
    :func:`parse_time`. Raises ``fastjsonschema.JsonSchemaException`` on a bad document.
    """
    schema = load_schema(path)
    return fastjsonschema.compile(
        schema,
        handlers={scheme: _no_fetch for scheme in ("http", "https", "ftp", "file", "data")},
        formats={"uri": is_uri, "date-time": _is_date_time},
        use_default=False,
    )


def _check_schema(document: Any, schema_path: str | PathLike[str] | None) -> None:
    validate = schema_validator(fspath(schema_path) if schema_path is not None else None)
    try:
        validate(document)
    except fastjsonschema.JsonSchemaException as error:
        parts = [int(p) if p.isdigit() else p for p in (error.path or ["data"])[1:]]
        detail = error.message.removeprefix("data.").removeprefix("data")
        _fail(
            "schema_invalid",
            N_("the document does not follow the EPCIS 2.0 schema: %(detail)s"),
            tuple(parts),
            detail=detail.strip()[:300],
        )


def _normalised_for_schema(document: dict[str, Any]) -> dict[str, Any]:
    """A copy with CBV values in URN form written as bare words, which the schema wants."""
    events = []
    for event in document["epcisBody"]["eventList"]:
        copy = dict(event)
        for key, word in (("bizStep", biz_step_word), ("disposition", disposition_word)):
            value = copy.get(key)
            if isinstance(value, str) and value.startswith("urn:epcglobal:cbv:"):
                copy[key] = word(value) or value
        for key in ("sourceList", "destinationList"):
            entries = copy.get(key)
            if isinstance(entries, list):
                copy[key] = [_normalised_entry(entry) for entry in entries]
        events.append(copy)
    return {**document, "epcisBody": {**document["epcisBody"], "eventList": events}}


def _normalised_entry(entry: Any) -> Any:
    if isinstance(entry, dict) and isinstance(entry.get("type"), str):
        value = entry["type"]
        if value.startswith("urn:epcglobal:cbv:"):
            return {**entry, "type": source_dest_word(value) or value}
    return entry


# --- export --------------------------------------------------------------------------------------


def export_document(
    events: Sequence[TraceEvent],
    *,
    sender: Party | None = None,
    created: datetime,
) -> dict[str, Any]:
    """An EPCIS 2.0 ``EPCISDocument`` (JSON-LD, as a dict) holding ``events``.

    Raises :class:`EpcisError` (paths ``events[i]…``) for an event the format cannot carry
    faithfully or that :func:`import_document` would refuse.
    """
    document: dict[str, Any] = {
        "@context": [EPCIS_CONTEXT, {TQR_PREFIX: TQR_NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time_out(created, ("created",)),
    }
    if sender is not None:
        _check_party(sender, ("sender",), full=True)
        document["sender"] = party_id(sender) or sender.name
    seen: dict[str, int] = {}
    event_list = []
    for index, event in enumerate(events):
        path: JsonPath = ("events", index)
        if event.event_id in seen:
            _fail(
                "duplicate_event_id",
                N_("the event ID %(event_id)s is used by event %(first)s too"),
                (*path, "event_id"),
                event_id=event.event_id[:100],
                first=seen[event.event_id],
            )
        seen[event.event_id] = index
        event_list.append(_event_out(event, path))
    document["epcisBody"] = {"eventList": event_list}
    return document


def _time_out(value: datetime, path: JsonPath) -> str:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        _fail("bad_time", N_("a time with its time-zone offset expected"), path)
    offset = value.utcoffset() or timedelta(0)
    if offset.seconds % 60 or offset.microseconds or abs(offset) > timedelta(hours=14):
        _fail("bad_time_zone", N_("the offset must be whole minutes within ±14:00"), path)
    return value.isoformat()


def _event_out(event: TraceEvent, path: JsonPath) -> dict[str, Any]:
    if not is_uri(event.event_id) or len(event.event_id) > MAX_EVENT_ID:
        _fail(
            "bad_event_id",
            N_("an event ID is a URI of at most %(limit)s characters"),
            (*path, "event_id"),
            limit=MAX_EVENT_ID,
        )
    kind = EventKind(event.kind)
    out: dict[str, Any] = {
        "type": kind.value,
        "eventID": event.event_id,
        "eventTime": _time_out(event.event_time, (*path, "event_time")),
        "eventTimeZoneOffset": offset_text(event.event_time),
    }
    if kind is EventKind.OBJECT:
        if event.action is None or event.inputs:
            _fail(
                "invalid_event",
                N_("an object event has an action and no inputs"),
                (*path, "action" if event.action is None else "inputs"),
            )
        out["action"] = Action(event.action).value
    elif event.action is not None:
        _fail("invalid_event", N_("a transformation event has no action"), (*path, "action"))
    if event.biz_step not in BIZ_STEPS:
        _fail(
            "unknown_biz_step",
            N_("%(value)s is not a business step TraceQR records"),
            (*path, "biz_step"),
            value=str(event.biz_step)[:60],
        )
    out["bizStep"] = _biz_step_out(event.biz_step)
    if event.disposition is not None:
        if event.disposition not in DISPOSITIONS:
            _fail(
                "unknown_disposition",
                N_("%(value)s is not a disposition TraceQR records"),
                (*path, "disposition"),
                value=str(event.disposition)[:60],
            )
        out["disposition"] = event.disposition
    if not event.outputs:
        _fail("no_lots", N_("an event is about at least one lot"), (*path, "outputs"))
    lots: dict[str, str] = {}
    outputs = [_quantity_out(q, (*path, "outputs", i), lots) for i, q in enumerate(event.outputs)]
    if kind is EventKind.OBJECT:
        out["quantityList"] = outputs
    else:
        inputs = [_quantity_out(q, (*path, "inputs", i), lots) for i, q in enumerate(event.inputs)]
        if inputs:
            out["inputQuantityList"] = inputs
        else:  # the schema wants inputs and outputs, or a transformation ID
            out["transformationID"] = event.event_id
        out["outputQuantityList"] = outputs
    extras: dict[str, Any] = {}
    if event.place is not None:
        ppath = (*path, "place")
        _check_place(event.place, ppath)
        if (pid := place_id(event.place)) is not None:
            out["bizLocation"] = {"id": pid}
        extras["tqr:place"] = _names_out(event.place, event.place.gln)
    for key, list_key, party in (
        ("source", "sourceList", event.source),
        ("destination", "destinationList", event.destination),
    ):
        if party is None:
            continue
        _check_party(party, (*path, key), full=False)
        if (pid := party_id(party)) is not None:
            out[list_key] = [{"type": "owning_party", key: pid}]
        extras[f"tqr:{key}"] = _names_out(party, party.gln)
    ilmd, extensions = _extensions_out(event, path)
    if ilmd:
        out["ilmd"] = ilmd
    if event.note is not None:
        out["tqr:note"] = _text(event.note, (*path, "note"), MAX_NOTE, multiline=True)
    out.update(extras)
    if event.actor is not None:
        _check_party(event.actor, (*path, "actor"), full=True)
        actor = {"name": event.actor.name}
        for attr in ("gln", "uri"):
            if getattr(event.actor, attr) is not None:
                actor[attr] = getattr(event.actor, attr)
        out["tqr:actor"] = actor
    if lots:
        out["tqr:lots"] = lots
    if extensions:
        out["tqr:extensions"] = extensions
    return out


def _quantity_out(quantity: Quantity, path: JsonPath, lots: dict[str, str]) -> dict[str, Any]:
    lot = quantity.lot
    lpath = (*path, "lot")
    _lot(lot.lot, (*lpath, "lot"))
    if lot.gtin is not None:
        gtin = _gtin(lot.gtin, (*lpath, "gtin"))
        if gtin != lot.gtin:
            lot = LotRef(gtin=gtin, lot=lot.lot, uri=lot.uri)
        uri = lot.class_uri()
    else:
        if lot.uri is None or not _TQR_LOT.fullmatch(lot.uri) or len(lot.uri) > MAX_URI:
            _fail(
                "bad_epc_class",
                N_("a lot without a GTIN needs a TraceQR lot URI (…/lots/{id})"),
                (*lpath, "uri"),
            )
        uri = lot.uri
        if lots.get(uri, lot.lot) != lot.lot:
            _fail(
                "invalid_event",
                N_("one lot URI names two lot numbers"),
                (*lpath, "uri"),
            )
        lots[uri] = lot.lot
    out: dict[str, Any] = {"epcClass": uri}
    if quantity.amount is not None:
        out["quantity"] = _amount(quantity.amount, (*path, "amount"))
    if quantity.unit is not None:
        out["uom"] = _unit(quantity.unit, (*path, "unit"))
    return out


def _amount(value: object, path: JsonPath) -> float | int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_QUANTITY
    ):
        _fail(
            "bad_quantity",
            N_("a quantity is a number from 0 to %(limit)s"),
            path,
            limit=f"{MAX_QUANTITY:g}",
        )
    return value


def _unit(value: object, path: JsonPath) -> str:
    if not isinstance(value, str) or not _UOM.fullmatch(value):
        _fail(
            "bad_unit",
            N_("a unit is a UN/ECE Recommendation 20 code (KGM, LTR, EA …)"),
            path,
        )
    return value


def _check_uri(value: str | None, path: JsonPath) -> None:
    if value is not None and (not is_uri(value) or len(value) > MAX_URI):
        _fail("bad_uri", N_("a URI of at most %(limit)s characters expected"), path, limit=MAX_URI)


def _check_place(place: Place, path: JsonPath) -> None:
    _text(place.name, (*path, "name"), MAX_NAME)
    if place.address is not None:
        _text(place.address, (*path, "address"), MAX_NAME)
    if place.gln is not None:
        _gln(place.gln, (*path, "gln"))
    _check_uri(place.uri, (*path, "uri"))


def _check_party(party: Party, path: JsonPath, *, full: bool) -> None:
    _text(party.name, (*path, "name"), MAX_NAME)
    if party.gln is not None:
        _gln(party.gln, (*path, "gln"))
    _check_uri(party.uri, (*path, "uri"))
    if full and not party.name and party.gln is None and party.uri is None:
        _fail("invalid_event", N_("a party needs a name, a GLN or a URI"), path)


def _names_out(value: Place | Party, gln: str | None) -> dict[str, str]:
    names = {"name": value.name}
    if isinstance(value, Place) and value.address is not None:
        names["address"] = value.address
    if gln is not None and value.uri is not None:
        names["uri"] = value.uri
    return names


def _extensions_out(event: TraceEvent, path: JsonPath) -> tuple[dict[str, str], dict[str, str]]:
    ilmd_allowed = event.kind == EventKind.TRANSFORMATION or event.action == Action.ADD
    ilmd: dict[str, str] = {}
    others: dict[str, str] = {}
    for key, value in event.extensions.items():
        kpath = (*path, "extensions", key)
        if not isinstance(key, str) or not _EXTENSION_KEY.fullmatch(key):
            _fail(
                "bad_extension",
                N_("an extension key is 1–40 lower-case letters, digits or _"),
                kpath,
            )
        if key in ILMD_TERMS:
            _iso_date(value, kpath)
            if ilmd_allowed:
                ilmd[ILMD_TERMS[key]] = value
                continue
        others[key] = _text(value, kpath, MAX_EXTENSION_VALUE)
    return ilmd, others


# --- import --------------------------------------------------------------------------------------

_COMMON = frozenset(
    {"@context", "type", "eventTime", "recordTime", "eventTimeZoneOffset", "eventID"}
)
_IGNORED = frozenset({"recordTime", "readPoint", "bizTransactionList", "certificationInfo"})
_REFUSED = frozenset({"persistentDisposition", "sensorElementList", "errorDeclaration"})
_OBJECT_MEMBERS = frozenset(
    {"action", "epcList", "quantityList", "bizStep", "disposition", "bizLocation"}
    | {"sourceList", "destinationList", "ilmd"}
)
_TRANSFORMATION_MEMBERS = frozenset(
    {"inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList"}
    | {"transformationID", "bizStep", "disposition", "bizLocation", "sourceList"}
    | {"destinationList", "ilmd"}
)
_TQR_MEMBERS = frozenset(
    {"tqr:note", "tqr:place", "tqr:source", "tqr:destination", "tqr:actor", "tqr:lots"}
    | {"tqr:extensions"}
)
_DOCUMENT_MEMBERS = frozenset(
    {"@context", "id", "type", "schemaVersion", "creationDate", "instanceIdentifier"}
    | {"sender", "receiver", "epcisHeader", "epcisBody"}
)


def import_document(
    data: bytes | str | Mapping[str, Any],
    *,
    max_events: int = 10_000,
    max_bytes: int = 5_000_000,
    now: datetime | None = None,
    schema_path: str | PathLike[str] | None = None,
) -> list[TraceEvent]:
    """The events of an EPCIS 2.0 JSON(-LD) document, all of them or none.

    ``now`` bounds event times (default: the current time; a day of clock skew is allowed).
    ``schema_path`` is the published EPCIS 2.0 JSON schema (default
    :data:`DEFAULT_SCHEMA_PATH`). Raises :class:`EpcisError`.
    """
    document = parse_json(data, max_bytes=max_bytes)
    if not isinstance(document, dict) or document.get("type") != "EPCISDocument":
        _fail(
            "not_epcis_document",
            N_("this is not an EPCIS document (its type should be EPCISDocument)"),
            ("type",) if isinstance(document, dict) else (),
        )
    body = document.get("epcisBody")
    if body is None:
        _fail("missing_field", N_("%(name)s is missing"), ("epcisBody",), name="epcisBody")
    _expect(body, dict, ("epcisBody",), "an object")
    events = body.get("eventList")
    if events is None:
        _fail(
            "missing_field", N_("%(name)s is missing"), ("epcisBody", "eventList"), name="eventList"
        )
    _expect(events, list, ("epcisBody", "eventList"), "an array")
    if len(events) > max_events:
        _fail(
            "too_many_events",
            N_("a document may hold at most %(limit)s events, not %(count)s"),
            ("epcisBody", "eventList"),
            limit=max_events,
            count=len(events),
        )
    _walk(document, MAX_DEPTH)
    prefixes = _check_context(document.get("@context"), ("@context",), top=True)
    version = document.get("schemaVersion")
    if version is None:
        _fail("missing_field", N_("%(name)s is missing"), ("schemaVersion",), name="schemaVersion")
    if not isinstance(version, str) or not re.fullmatch(r"2\.0(?:\.[0-9]+)?", version):
        _fail(
            "unsupported_version",
            N_("only EPCIS 2.0 documents can be imported"),
            ("schemaVersion",),
        )
    for key in document:
        _check_member_name(key, (key,), _DOCUMENT_MEMBERS, prefixes)
    reader = _EventReader(prefixes, now or datetime.now(UTC))
    result = [reader.read(event, ("epcisBody", "eventList", i)) for i, event in enumerate(events)]
    _check_schema(_normalised_for_schema(document), schema_path)
    return result


def _check_context(value: Any, path: JsonPath, *, top: bool) -> dict[str, str]:
    """The prefixes an ``@context`` declares; refuses contexts that would need fetching."""
    if value is None:
        if top:
            _fail("missing_field", N_("%(name)s is missing"), path, name="@context")
        return {}
    entries = value if isinstance(value, list) else [value]
    prefixes: dict[str, str] = {}
    standard = False
    for i, entry in enumerate(entries):
        epath = (*path, i) if isinstance(value, list) else path
        if isinstance(entry, str):
            if entry not in KNOWN_CONTEXTS:
                _fail(
                    "unsupported_context",
                    N_("the context %(url)s is not the EPCIS 2.0 context; it is not fetched"),
                    epath,
                    url=entry[:100],
                )
            standard = True
        elif isinstance(entry, dict):
            for prefix, iri in entry.items():
                ppath = (*epath, prefix)
                if (
                    prefix.startswith("@")
                    or prefix in STANDARD_PREFIXES
                    or not isinstance(iri, str)
                    or not is_uri(iri)
                    or (prefix == TQR_PREFIX and iri != TQR_NAMESPACE)
                ):
                    _fail(
                        "unsupported_context",
                        N_("a context may only declare new prefixes, each with an IRI"),
                        ppath,
                    )
                prefixes[prefix] = iri
        else:
            _fail("unsupported_context", N_("a context is a URL or an object"), epath)
    if top and not standard:
        _fail(
            "unsupported_context",
            N_("the context must include the EPCIS 2.0 context, %(url)s"),
            path,
            url=EPCIS_CONTEXT,
        )
    return prefixes


def _check_member_name(
    key: str, path: JsonPath, known: frozenset[str], prefixes: Mapping[str, str]
) -> None:
    if key in known:
        return
    if key.startswith(f"{TQR_PREFIX}:"):
        if TQR_PREFIX not in prefixes:
            _fail(
                "unsupported_context",
                N_("tqr: members need the tqr prefix declared as %(iri)s"),
                path,
                iri=TQR_NAMESPACE,
            )
        return
    if not key.startswith(("$", "@")) and is_uri(key):
        return  # another namespace's extension: accepted, not kept
    _fail("unknown_field", N_("%(name)s is not an EPCIS member"), path, name=key[:60])


class _EventReader:
    def __init__(self, prefixes: Mapping[str, str], now: datetime) -> None:
        self.prefixes = prefixes
        self.latest = now + CLOCK_SKEW
        self.seen: dict[str, int] = {}

    def read(self, event: Any, path: JsonPath) -> TraceEvent:
        _expect(event, dict, path, "an object")
        kind_text = event.get("type")
        if kind_text is None:
            _fail("missing_field", N_("%(name)s is missing"), (*path, "type"), name="type")
        if kind_text not in (EventKind.OBJECT.value, EventKind.TRANSFORMATION.value):
            _fail(
                "unsupported_event_type",
                N_("event %(index)s is a %(type)s; only object and transformation events"),
                (*path, "type"),
                index=path[-1],
                type=str(kind_text)[:60],
            )
        kind = EventKind(kind_text)
        members = _OBJECT_MEMBERS if kind is EventKind.OBJECT else _TRANSFORMATION_MEMBERS
        prefixes = dict(self.prefixes)
        if "@context" in event:
            prefixes |= _check_context(event["@context"], (*path, "@context"), top=False)
        for key, value in event.items():
            kpath = (*path, key)
            if key in _REFUSED or (key in ("epcList", "inputEPCList", "outputEPCList") and value):
                _fail(
                    "unsupported_field",
                    N_("TraceQR cannot keep %(name)s; the document is not imported"),
                    kpath,
                    name=key,
                )
            _check_member_name(key, kpath, _COMMON | _IGNORED | members, prefixes)
            if key.startswith(f"{TQR_PREFIX}:") and key not in _TQR_MEMBERS:
                _fail("bad_extension", N_("%(name)s is not a TraceQR member"), kpath, name=key)

        event_id = self._event_id(event, path)
        event_time = self._time(event, path)
        action: Action | None = None
        if kind is EventKind.OBJECT:
            raw = self._required(event, "action", path)
            if raw not in Action.__members__:
                _fail(
                    "bad_action",
                    N_("the action is ADD, OBSERVE or DELETE"),
                    (*path, "action"),
                )
            action = Action(raw)
        biz_step = self._biz_step(self._required(event, "bizStep", path), (*path, "bizStep"))
        disposition = None
        if "disposition" in event:
            disposition = self._disposition(event["disposition"], (*path, "disposition"))

        lots = self._lots(event.get("tqr:lots"), (*path, "tqr:lots"))
        if kind is EventKind.OBJECT:
            outputs = self._quantities(event, "quantityList", path, lots)
            inputs: tuple[Quantity, ...] = ()
        else:
            outputs = self._quantities(event, "outputQuantityList", path, lots)
            inputs = self._quantities(event, "inputQuantityList", path, lots, required=False)

        if "ilmd" in event and kind is EventKind.OBJECT and action is not Action.ADD:
            _fail(
                "ilmd_not_allowed",
                N_("lot master data (ILMD) is given only when the lot is created (ADD)"),
                (*path, "ilmd"),
            )
        extensions = self._extensions(event, path)
        note = None
        if "tqr:note" in event:
            note = _text(event["tqr:note"], (*path, "tqr:note"), MAX_NOTE, multiline=True)
        return TraceEvent(
            event_id=event_id,
            kind=kind,
            event_time=event_time,
            biz_step=biz_step,
            disposition=disposition,
            action=action,
            outputs=outputs,
            inputs=inputs,
            place=self._place(event, path),
            source=self._party(event, "source", path),
            destination=self._party(event, "destination", path),
            actor=self._actor(event.get("tqr:actor"), (*path, "tqr:actor")),
            note=note,
            extensions=extensions,
        )

    @staticmethod
    def _required(event: dict[str, Any], key: str, path: JsonPath) -> Any:
        if key not in event:
            _fail("missing_field", N_("%(name)s is missing"), (*path, key), name=key)
        return event[key]

    def _event_id(self, event: dict[str, Any], path: JsonPath) -> str:
        ipath = (*path, "eventID")
        value = _text(self._required(event, "eventID", path), ipath, MAX_EVENT_ID)
        if not is_uri(value):
            _fail(
                "bad_event_id",
                N_("an event ID is a URI of at most %(limit)s characters"),
                ipath,
                limit=MAX_EVENT_ID,
            )
        if value in self.seen:
            _fail(
                "duplicate_event_id",
                N_("the event ID %(event_id)s is used by event %(first)s too"),
                ipath,
                event_id=value[:100],
                first=self.seen[value],
            )
        self.seen[value] = int(path[-1])
        return value

    def _time(self, event: dict[str, Any], path: JsonPath) -> datetime:
        tpath = (*path, "eventTime")
        text = _text(self._required(event, "eventTime", path), tpath, 40)
        try:
            moment = parse_time(text)
        except ValueError:
            _fail(
                "bad_time",
                N_("a date and time with its offset expected (2025-07-01T08:30:00+07:00)"),
                tpath,
            )
        opath = (*path, "eventTimeZoneOffset")
        offset = _text(self._required(event, "eventTimeZoneOffset", path), opath, 6)
        try:
            if not re.fullmatch(r"[+-][0-9]{2}:[0-9]{2}", offset):
                raise ValueError(offset)
            tz: timezone = zone(offset)
        except ValueError:
            _fail(
                "bad_time_zone",
                N_("a time-zone offset such as +07:00 expected, not %(value)s"),
                opath,
                value=offset,
            )
        if not EARLIEST_EVENT_TIME <= moment <= self.latest:
            _fail(
                "time_out_of_range",
                N_("the event time must lie between %(earliest)s and now"),
                tpath,
                earliest=EARLIEST_EVENT_TIME.date().isoformat(),
            )
        return moment.astimezone(tz)

    @staticmethod
    def _biz_step(value: Any, path: JsonPath) -> str:
        text = _text(value, path, MAX_URI)
        word = biz_step_word(text)
        if word in BIZ_STEPS:
            return word
        if word in CBV_BIZ_STEPS:
            _fail(
                "unsupported_biz_step",
                N_("TraceQR does not record the business step %(value)s"),
                path,
                value=word,
            )
        _fail(
            "unknown_biz_step",
            N_("%(value)s is not a CBV business step"),
            path,
            value=text[:60],
        )

    @staticmethod
    def _disposition(value: Any, path: JsonPath) -> str:
        text = _text(value, path, MAX_URI)
        word = disposition_word(text)
        if word in DISPOSITIONS:
            return word
        if word in CBV_DISPOSITIONS:
            _fail(
                "unsupported_disposition",
                N_("TraceQR does not record the disposition %(value)s"),
                path,
                value=word,
            )
        _fail(
            "unknown_disposition",
            N_("%(value)s is not a CBV disposition"),
            path,
            value=text[:60],
        )

    @staticmethod
    def _lots(value: Any, path: JsonPath) -> dict[str, str]:
        if value is None:
            return {}
        _expect(value, dict, path, "an object")
        for uri, lot in value.items():
            _text(lot, (*path, uri), 20)
        return value

    @staticmethod
    def _quantities(
        event: dict[str, Any],
        key: str,
        path: JsonPath,
        lots: Mapping[str, str],
        *,
        required: bool = True,
    ) -> tuple[Quantity, ...]:
        qpath = (*path, key)
        items = event.get(key)
        if items is None or items == []:
            if not required:
                return ()
            _fail("no_lots", N_("the event names no lot (%(name)s)"), qpath, name=key)
        _expect(items, list, qpath, "an array")
        result = []
        for i, item in enumerate(items):
            ipath = (*qpath, i)
            _expect(item, dict, ipath, "an object")
            epc_class = _text(
                _EventReader._required(item, "epcClass", ipath), (*ipath, "epcClass"), MAX_URI
            )
            lot = lot_from_class(epc_class, (*ipath, "epcClass"), lots)
            amount = None
            if "quantity" in item:
                amount = float(_amount(item["quantity"], (*ipath, "quantity")))
            unit = _unit(item["uom"], (*ipath, "uom")) if "uom" in item else None
            result.append(Quantity(lot=lot, amount=amount, unit=unit))
        return tuple(result)

    def _extensions(self, event: dict[str, Any], path: JsonPath) -> dict[str, str]:
        extensions: dict[str, str] = {}
        if "ilmd" in event:
            ipath = (*path, "ilmd")
            _expect(event["ilmd"], dict, ipath, "an object")
            for term, value in event["ilmd"].items():
                key = _ILMD_KEYS.get(term)
                if key is not None:
                    extensions[key] = _iso_date(value, (*ipath, term))
                elif term.startswith(f"{TQR_PREFIX}:"):
                    _fail(
                        "bad_extension",
                        N_("%(name)s is not a TraceQR member"),
                        (*ipath, term),
                        name=term,
                    )
        if "tqr:extensions" in event:
            epath = (*path, "tqr:extensions")
            for key, value in _expect(event["tqr:extensions"], dict, epath, "an object").items():
                kpath = (*epath, key)
                if not _EXTENSION_KEY.fullmatch(key):
                    _fail(
                        "bad_extension",
                        N_("an extension key is 1–40 lower-case letters, digits or _"),
                        kpath,
                    )
                if key in extensions:
                    _fail(
                        "inconsistent_extension",
                        N_("%(name)s is given twice (ILMD and tqr:extensions)"),
                        kpath,
                        name=key,
                    )
                if key in ILMD_TERMS:
                    _iso_date(value, kpath)
                extensions[key] = _text(value, kpath, MAX_EXTENSION_VALUE)
        return extensions

    @staticmethod
    def _names(value: Any, path: JsonPath, allowed: frozenset[str]) -> dict[str, str]:
        _expect(value, dict, path, "an object")
        for key, item in value.items():
            if key not in allowed:
                _fail(
                    "bad_extension",
                    N_("%(name)s is not a TraceQR member"),
                    (*path, key),
                    name=key[:60],
                )
            limit = MAX_URI if key == "uri" else MAX_NAME
            _text(item, (*path, key), limit)
        if "name" not in value:
            _fail("bad_extension", N_("%(name)s is missing"), (*path, "name"), name="name")
        if "uri" in value:
            _check_uri(value["uri"], (*path, "uri"))
        if "gln" in value:
            _gln(value["gln"], (*path, "gln"))
        return value

    @staticmethod
    def _merge_uri(
        names: Mapping[str, str], gln: str | None, uri: str | None, path: JsonPath
    ) -> str | None:
        if "uri" not in names:
            return uri
        if gln is None or uri is not None:
            _fail(
                "inconsistent_extension",
                N_("uri is given in the TraceQR member only beside a GLN"),
                (*path, "uri"),
            )
        return names["uri"]

    def _place(self, event: dict[str, Any], path: JsonPath) -> Place | None:
        gln = uri = None
        if "bizLocation" in event:
            lpath = (*path, "bizLocation")
            location = _expect(event["bizLocation"], dict, lpath, "an object")
            raw = _text(self._required(location, "id", lpath), (*lpath, "id"), MAX_URI)
            gln, uri = _location_ids(raw, (*lpath, "id"), party=False)
        names: Mapping[str, str] = {}
        if "tqr:place" in event:
            npath = (*path, "tqr:place")
            names = self._names(event["tqr:place"], npath, frozenset({"name", "address", "uri"}))
            uri = self._merge_uri(names, gln, uri, npath)
        elif "bizLocation" not in event:
            return None
        return Place(name=names.get("name", ""), gln=gln, address=names.get("address"), uri=uri)

    def _party(self, event: dict[str, Any], key: str, path: JsonPath) -> Party | None:
        list_key = f"{key}List"
        chosen: dict[str, tuple[str, JsonPath]] = {}
        if list_key in event:
            lpath = (*path, list_key)
            for i, entry in enumerate(_expect(event[list_key], list, lpath, "an array")):
                epath = (*lpath, i)
                _expect(entry, dict, epath, "an object")
                kind = _text(self._required(entry, "type", epath), (*epath, "type"), MAX_URI)
                word = source_dest_word(kind)
                if word not in ("owning_party", "possessing_party"):
                    continue  # locations and other types: accepted, not kept
                if word in chosen:
                    _fail(
                        "ambiguous_party",
                        N_("two %(type)s entries; TraceQR keeps one party"),
                        epath,
                        type=word,
                    )
                ident = _text(self._required(entry, key, epath), (*epath, key), MAX_URI)
                chosen[word] = (ident, (*epath, key))
        pick = chosen.get("owning_party") or chosen.get("possessing_party")
        gln = uri = None
        if pick is not None:
            gln, uri = _location_ids(pick[0], pick[1], party=True)
        names: Mapping[str, str] = {}
        member = f"tqr:{key}"
        if member in event:
            npath = (*path, member)
            names = self._names(event[member], npath, frozenset({"name", "uri"}))
            uri = self._merge_uri(names, gln, uri, npath)
        elif pick is None:
            return None
        return Party(name=names.get("name", ""), gln=gln, uri=uri)

    def _actor(self, value: Any, path: JsonPath) -> Party | None:
        if value is None:
            return None
        names = self._names(value, path, frozenset({"name", "gln", "uri"}))
        return Party(name=names["name"], gln=names.get("gln"), uri=names.get("uri"))


__all__ = [
    "CBV_BIZ_STEPS",
    "CBV_DISPOSITIONS",
    "DEFAULT_SCHEMA_PATH",
    "EPCIS_CONTEXT",
    "ILMD_TERMS",
    "TQR_NAMESPACE",
    "EpcisError",
    "export_document",
    "import_document",
    "is_uri",
    "load_schema",
    "lot_from_class",
    "parse_time",
    "schema_validator",
]
