"""GS1 identifiers: GTIN check digits, the character set of lots and serials, and GS1
element strings (Application Identifiers and their values).

Errors are :class:`GS1Error` with an English template marked for translation; every
message about an AI names it, as in ``(17) USE BY OR EXPIRY: 261332 is not a date``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from traceqr.errors import N_

GTIN_LENGTHS = (8, 12, 13, 14)
# GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
CSET82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
LOT_MAX_LENGTH = 20


class GS1Error(ValueError):
    """An identifier breaks a GS1 rule; the message says which.

    ``template`` and ``params`` let a page translate the message.
    """

    def __init__(self, template: str, **params: object) -> None:
        super().__init__(template % params if params else template)
        self.template = template
        self.params = params


def check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for a string of digits without its check digit.

    Weights 3, 1, 3, … are applied from the right.
    """
    if not digits.isdigit() or not digits.isascii():
        raise GS1Error(N_("only digits have a GS1 check digit"))
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def normalize_gtin(text: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it as GTIN-14 (zero-padded on the left)."""
    gtin = text.strip()
    if not gtin.isascii() or not gtin.isdigit():
        raise GS1Error(N_("a GTIN is made of digits only"))
    if len(gtin) not in GTIN_LENGTHS:
        raise GS1Error(N_("a GTIN has 8, 12, 13 or 14 digits"))
    if check_digit(gtin[:-1]) != int(gtin[-1]):
        raise GS1Error(
            N_("the check digit should be %(expected)s, not %(given)s"),
            expected=check_digit(gtin[:-1]),
            given=gtin[-1],
        )
    return gtin.zfill(14)


def validate_lot(text: str) -> str:
    """A batch/lot number as GS1 AI (10) allows: 1–20 characters of CSET 82."""
    if not text:
        raise GS1Error(N_("a lot number cannot be empty"))
    if len(text) > LOT_MAX_LENGTH:
        raise GS1Error(N_("a lot number has at most %(limit)s characters"), limit=LOT_MAX_LENGTH)
    bad = sorted({ch for ch in text if ch not in CSET82})
    if bad:
        shown = " ".join(repr(ch) for ch in bad[:5])
        raise GS1Error(
            N_(
                "a lot number uses letters without accents, digits and "
                "!\"%%&'()*+,-./:;<=>?_ only; not %(shown)s"
            ),
            shown=shown,
        )
    return text


# --- Application Identifiers -------------------------------------------------------------
#
# The formats below are those of the GS1 Barcode Syntax Dictionary
# (github.com/gs1/gs1-syntax-dictionary, gs1-syntax-dictionary.txt), which restates the GS1
# General Specifications §3 in a machine-readable form. Notation, one AI (or a range of
# AIs) per line:
#
#   AI[-AI]  [*]  component [component …]  # DATA TITLE
#
#   "*"        the AI has a predefined length: in a raw element string no FNC1 separator
#              follows it (General Specifications figure 7.8.5-1)
#   N18        exactly 18 digits;  N..8  1 to 8 digits
#   X..20      1 to 20 characters of CSET 82;  [X..17]  an optional last component
#   ,csum      the component ends with a GS1 mod-10 check digit
#   ,yymmd0    a date YYMMDD; DD = 00 means the last day of the month
#   ,yymmdd    a date YYMMDD; DD = 00 is not allowed
#   ,hhmm      a time of day HHMM
#   ,iso3166   an ISO 3166-1 numeric country code
#
# Only the AIs TraceQR meets are listed; any other is refused as unknown. Adding one is a
# line here.
_SYNTAX_TABLE = """
00        * N18,csum                # SSCC
01        * N14,csum                # GTIN
02        * N14,csum                # CONTENT
10          X..20                   # BATCH/LOT
11        * N6,yymmd0               # PROD DATE
12        * N6,yymmd0               # DUE DATE
13        * N6,yymmd0               # PACK DATE
15        * N6,yymmd0               # BEST BEFORE or BEST BY
16        * N6,yymmd0               # SELL BY
17        * N6,yymmd0               # USE BY OR EXPIRY
20        * N2                      # VARIANT
21          X..20                   # SERIAL
22          X..20                   # CPV
235         X..28                   # TPX
253         N13,csum [X..17]        # GDTI
254         X..20                   # GLN EXTENSION COMPONENT
30          N..8                    # VAR. COUNT
3100-3105 * N6                      # NET WEIGHT (kg)
3110-3115 * N6                      # LENGTH (m)
3120-3125 * N6                      # WIDTH (m)
3130-3135 * N6                      # HEIGHT (m)
3140-3145 * N6                      # AREA (m²)
3150-3155 * N6                      # NET VOLUME (l)
3160-3165 * N6                      # NET VOLUME (m³)
3200-3205 * N6                      # NET WEIGHT (lb)
3210-3215 * N6                      # LENGTH (in)
3220-3225 * N6                      # LENGTH (ft)
3230-3235 * N6                      # LENGTH (yd)
3240-3245 * N6                      # WIDTH (in)
3250-3255 * N6                      # WIDTH (ft)
3260-3265 * N6                      # WIDTH (yd)
3270-3275 * N6                      # HEIGHT (in)
3280-3285 * N6                      # HEIGHT (ft)
3290-3295 * N6                      # HEIGHT (yd)
3300-3305 * N6                      # GROSS WEIGHT (kg)
3310-3315 * N6                      # LENGTH (m), log
3320-3325 * N6                      # WIDTH (m), log
3330-3335 * N6                      # HEIGHT (m), log
3340-3345 * N6                      # AREA (m²), log
3350-3355 * N6                      # VOLUME (l), log
3360-3365 * N6                      # VOLUME (m³), log
3370-3375 * N6                      # KG PER m²
3400-3405 * N6                      # GROSS WEIGHT (lb)
3410-3415 * N6                      # LENGTH (in), log
3420-3425 * N6                      # LENGTH (ft), log
3430-3435 * N6                      # LENGTH (yd), log
3440-3445 * N6                      # WIDTH (in), log
3450-3455 * N6                      # WIDTH (ft), log
3460-3465 * N6                      # WIDTH (yd), log
3470-3475 * N6                      # HEIGHT (in), log
3480-3485 * N6                      # HEIGHT (ft), log
3490-3495 * N6                      # HEIGHT (yd), log
3500-3505 * N6                      # AREA (in²)
3510-3515 * N6                      # AREA (ft²)
3520-3525 * N6                      # AREA (yd²)
3530-3535 * N6                      # AREA (in²), log
3540-3545 * N6                      # AREA (ft²), log
3550-3555 * N6                      # AREA (yd²), log
3560-3565 * N6                      # NET WEIGHT (t oz)
3570-3575 * N6                      # NET VOLUME (oz)
3600-3605 * N6                      # NET VOLUME (qt)
3610-3615 * N6                      # NET VOLUME (gal.)
3620-3625 * N6                      # VOLUME (qt), log
3630-3635 * N6                      # VOLUME (gal.), log
3640-3645 * N6                      # VOLUME (in³)
3650-3655 * N6                      # VOLUME (ft³)
3660-3665 * N6                      # VOLUME (yd³)
3670-3675 * N6                      # VOLUME (in³), log
3680-3685 * N6                      # VOLUME (ft³), log
3690-3695 * N6                      # VOLUME (yd³), log
37          N..8                    # COUNT
410       * N13,csum                # SHIP TO LOC
411       * N13,csum                # BILL TO
412       * N13,csum                # PURCHASE FROM
413       * N13,csum                # SHIP FOR LOC
414       * N13,csum                # LOC No.
415       * N13,csum                # PAY TO
416       * N13,csum                # PROD/SERV LOC
417       * N13,csum                # PARTY
422         N3,iso3166              # ORIGIN
7003        N6,yymmdd N4,hhmm       # EXPIRY TIME
8200        X..70                   # PRODUCT URL
90          X..30                   # INTERNAL
91-99       X..90                   # INTERNAL
"""

# ISO 3166-1 numeric country codes, as the GS1 Syntax Dictionary's iso3166 linter lists
# them (src/lint_iso3166.c). Việt Nam is 704.
_ISO3166_NUMERIC_TEXT = """
    004 008 010 012 016 020 024 028 031 032 036 040 044 048 050 051 052 056 060 064 068 070
    072 074 076 084 086 090 092 096 100 104 108 112 116 120 124 132 136 140 144 148 152 156
    158 162 166 170 174 175 178 180 184 188 191 192 196 203 204 208 212 214 218 222 226 231
    232 233 234 238 239 242 246 248 250 254 258 260 262 266 268 270 275 276 288 292 296 300
    304 308 312 316 320 324 328 332 334 336 340 344 348 352 356 360 364 368 372 376 380 384
    388 392 398 400 404 408 410 414 417 418 422 426 428 430 434 438 440 442 446 450 454 458
    462 466 470 474 478 480 484 492 496 498 499 500 504 508 512 516 520 524 528 531 533 534
    535 540 548 554 558 562 566 570 574 578 580 581 583 584 585 586 591 598 600 604 608 612
    616 620 624 626 630 634 638 642 643 646 652 654 659 660 662 663 666 670 674 678 682 686
    688 690 694 702 703 704 705 706 710 716 724 728 729 732 740 744 748 752 756 760 762 764
    768 772 776 780 784 788 792 795 796 798 800 804 807 818 826 831 832 833 834 840 850 854
    858 860 862 876 882 887 894
"""
ISO3166_NUMERIC = frozenset(_ISO3166_NUMERIC_TEXT.split())

GS = "\x1d"  # the ASCII group separator a scanner sends for FNC1
MAX_ELEMENT_STRING = 4096
_ASCII_DIGITS = frozenset("0123456789")
# AIM symbology identifiers a scanner may put in front of GS1 data: GS1-128, GS1 DataBar,
# GS1 DataMatrix, GS1 QR Code, GS1 DotCode.
_SYMBOLOGY_IDS = ("]C1", "]e0", "]d2", "]Q3", "]J1")
_AI_IN_BRACKETS = re.compile(r"\(([0-9]{2,4})\)")
_COMPONENT = re.compile(r"(\[)?([NX])(\.\.)?(\d+)((?:,[a-z0-9]+)*)(\])?")


@dataclass(frozen=True, slots=True)
class AIComponent:
    """One part of an AI's data field: its character set, length range and checks."""

    charset: str  # "N": digits, "X": CSET 82
    min_length: int
    max_length: int
    checks: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True, slots=True)
class AISpec:
    """The format of one Application Identifier's data field."""

    ai: str
    title: str
    components: tuple[AIComponent, ...]
    predefined_length: bool  # no FNC1 separator after it in a raw element string

    @property
    def min_length(self) -> int:
        return sum(c.min_length for c in self.components if not c.optional)

    @property
    def max_length(self) -> int:
        return sum(c.max_length for c in self.components)

    @property
    def is_date(self) -> bool:
        return bool({"yymmd0", "yymmdd"} & set(self.components[0].checks))


class UnknownAIError(GS1Error):
    """The text names an Application Identifier TraceQR does not know."""


def _parse_syntax_table(table: str) -> dict[str, AISpec]:
    specs: dict[str, AISpec] = {}
    for line in table.strip().splitlines():
        body, _, title = line.partition("#")
        tokens = body.split()
        ai_range, tokens = tokens[0], tokens[1:]
        predefined = bool(tokens) and tokens[0] == "*"
        if predefined:
            tokens = tokens[1:]
        components = []
        for token in tokens:
            match = _COMPONENT.fullmatch(token)
            if match is None:
                raise ValueError(f"bad AI syntax table entry {line!r}")
            optional, charset, variable, length, checks = match.group(1, 2, 3, 4, 5)
            components.append(
                AIComponent(
                    charset=charset,
                    min_length=1 if variable else int(length),
                    max_length=int(length),
                    checks=tuple(checks.split(",")[1:]),
                    optional=bool(optional),
                )
            )
        first, _, last = ai_range.partition("-")
        for number in range(int(first), int(last or first) + 1):
            ai = str(number).zfill(len(first))
            specs[ai] = AISpec(ai, title.strip(), tuple(components), predefined)
    return specs


AI_SPECS: dict[str, AISpec] = _parse_syntax_table(_SYNTAX_TABLE)


def ai_spec(ai: str) -> AISpec:
    """The format of ``ai``, or :class:`UnknownAIError`."""
    spec = AI_SPECS.get(ai)
    if spec is None:
        shown = ai[:8] if ai.isascii() and ai.isprintable() else "?"
        raise UnknownAIError(
            N_("(%(ai)s) is not an Application Identifier TraceQR knows"), ai=shown
        )
    return spec


def validate_ai(ai: str, value: str) -> str:
    """Check ``value`` against the format of ``ai`` and return it unchanged.

    A :class:`GS1Error` names the AI and says what is wrong: length, characters, check
    digit, date, time or country code.
    """
    spec = ai_spec(ai)
    title = spec.title
    length = len(value)
    if not value:
        raise GS1Error(N_("(%(ai)s) %(title)s cannot be empty"), ai=ai, title=title)
    if spec.min_length == spec.max_length and length != spec.max_length:
        raise GS1Error(
            N_("(%(ai)s) %(title)s has exactly %(expected)s characters, not %(length)s"),
            ai=ai,
            title=title,
            expected=spec.max_length,
            length=length,
        )
    if length > spec.max_length:
        raise GS1Error(
            N_("(%(ai)s) %(title)s has at most %(limit)s characters, not %(length)s"),
            ai=ai,
            title=title,
            limit=spec.max_length,
            length=length,
        )
    if length < spec.min_length:
        raise GS1Error(
            N_("(%(ai)s) %(title)s has at least %(minimum)s characters, not %(length)s"),
            ai=ai,
            title=title,
            minimum=spec.min_length,
            length=length,
        )
    position = 0
    for component in spec.components:
        if position == length and component.optional:
            break
        # Only the last component may vary in length, so the rest of the value is its.
        is_last = component is spec.components[-1]
        end = length if is_last else position + component.max_length
        _check_component(ai, title, component, value[position:end])
        position = end
    return value


def _check_component(ai: str, title: str, component: AIComponent, part: str) -> None:
    if component.charset == "N":
        if not set(part) <= _ASCII_DIGITS:
            raise GS1Error(N_("(%(ai)s) %(title)s is made of digits only"), ai=ai, title=title)
    else:
        bad = sorted({ch for ch in part if ch not in CSET82})
        if bad:
            shown = " ".join(repr(ch) for ch in bad[:5])
            raise GS1Error(
                N_(
                    "(%(ai)s) %(title)s uses letters without accents, digits and "
                    "!\"%%&'()*+,-./:;<=>?_ only; not %(shown)s"
                ),
                ai=ai,
                title=title,
                shown=shown,
            )
    for check in component.checks:
        if check == "csum":
            expected = check_digit(part[:-1])
            if expected != int(part[-1]):
                raise GS1Error(
                    N_("(%(ai)s) %(title)s: the check digit should be %(expected)s, not %(given)s"),
                    ai=ai,
                    title=title,
                    expected=expected,
                    given=part[-1],
                )
        elif check in ("yymmd0", "yymmdd"):
            if not _is_yymmdd(part, day_zero=check == "yymmd0"):
                raise GS1Error(
                    N_("(%(ai)s) %(title)s: %(value)s is not a date written YYMMDD"),
                    ai=ai,
                    title=title,
                    value=part,
                )
        elif check == "hhmm":
            if not (int(part[:2]) <= 23 and int(part[2:]) <= 59):
                raise GS1Error(
                    N_("(%(ai)s) %(title)s: %(value)s is not a time written HHMM"),
                    ai=ai,
                    title=title,
                    value=part,
                )
        elif check == "iso3166":
            if part not in ISO3166_NUMERIC:
                raise GS1Error(
                    N_("(%(ai)s) %(title)s: %(value)s is not an ISO 3166 country number"),
                    ai=ai,
                    title=title,
                    value=part,
                )
        else:  # pragma: no cover - a typo in the table
            raise ValueError(f"unknown AI check {check!r}")


def _is_yymmdd(text: str, *, day_zero: bool) -> bool:
    year, month, day = int(text[:2]), int(text[2:4]), int(text[4:6])
    if not 1 <= month <= 12:
        return False
    if day == 0:
        return day_zero
    # February 29 is checked as the syntax dictionary's linters do: every YY divisible by
    # four is a leap year (right for 2000 and for every year the century rule gives until
    # 2051). gs1_date() applies the century rule itself.
    days = calendar.monthrange(2000 + year, month)[1]
    return day <= days


def gs1_century_year(yy: int, today: date | None = None) -> int:
    """The four-digit year of a two-digit GS1 year (General Specifications §7.12).

    A year more than 50 years ahead of the current one is in the previous century, one
    50 or more years behind it is in the next; otherwise it is in the current century.
    """
    current = (today or date.today()).year
    century, current_yy = divmod(current, 100)
    difference = yy - current_yy
    if difference >= 51:
        century -= 1
    elif difference <= -50:
        century += 1
    return century * 100 + yy


def gs1_date(text: str, *, today: date | None = None, day_zero: bool = True) -> date:
    """A GS1 date ``YYMMDD`` → :class:`date`; ``DD = 00`` means the month's last day."""
    if len(text) != 6 or not set(text) <= _ASCII_DIGITS:
        raise GS1Error(N_("%(value)s is not a date written YYMMDD"), value=text[:12])
    year = gs1_century_year(int(text[:2]), today)
    month, day = int(text[2:4]), int(text[4:6])
    if not 1 <= month <= 12 or (day == 0 and not day_zero):
        raise GS1Error(N_("%(value)s is not a date written YYMMDD"), value=text)
    last = calendar.monthrange(year, month)[1]
    if day > last:
        raise GS1Error(N_("%(value)s is not a date written YYMMDD"), value=text)
    return date(year, month, day or last)


def ai_date(ai: str, value: str, *, today: date | None = None) -> date:
    """The date a date AI (11, 12, 13, 15, 16, 17, 7003) carries, after validation.

    ``today`` fixes the reference year of the century rule (default: today).
    """
    spec = ai_spec(ai)
    if not spec.is_date:
        raise GS1Error(N_("(%(ai)s) %(title)s is not a date"), ai=ai, title=spec.title)
    validate_ai(ai, value)
    day_zero = "yymmd0" in spec.components[0].checks
    try:
        return gs1_date(value[:6], today=today, day_zero=day_zero)
    except GS1Error as exc:
        raise GS1Error(
            N_("(%(ai)s) %(title)s: %(value)s is not a date written YYMMDD"),
            ai=ai,
            title=spec.title,
            value=value[:6],
        ) from exc


# --- element strings ---------------------------------------------------------------------


def parse_element_string(text: str) -> list[tuple[str, str]]:
    """GS1 element strings → ordered ``(AI, value)`` pairs, each value validated.

    Two spellings are read:

    * the human-readable form, ``(01)09506000134352(10)ABC(21)123``. A ``(`` in a value is
      written ``\\(`` (as the GS1 Barcode Syntax Engine does); an unescaped ``(`` followed
      by digits and ``)`` starts the next element;
    * the raw form a scanner sends, ``0109506000134352 10ABC <GS> 21123``: an AI with a
      predefined length (01, 17, …) needs no separator, any other ends at a GS
      (``\\x1d``, FNC1) or at the end. A leading symbology identifier (``]C1``, ``]d2``,
      ``]Q3``, ``]e0``, ``]J1``) or FNC1 is dropped.

    The same AI twice with different values is refused; repeated identical ones are kept
    once.
    """
    stripped = text.strip(" \t\r\n")
    if not stripped:
        raise GS1Error(N_("there is no GS1 data to read"))
    if len(stripped) > MAX_ELEMENT_STRING:
        raise GS1Error(N_("the GS1 data is far too long"))
    pairs = _parse_bracketed(stripped) if stripped.startswith("(") else _parse_raw(stripped)
    seen: dict[str, str] = {}
    result = []
    for ai, value in pairs:
        validate_ai(ai, value)
        if ai in seen:
            if seen[ai] != value:
                raise GS1Error(N_("(%(ai)s) appears twice with different values"), ai=ai)
            continue
        seen[ai] = value
        result.append((ai, value))
    if not result:
        raise GS1Error(N_("there is no GS1 data to read"))
    return result


def _parse_bracketed(text: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(text):
        match = _AI_IN_BRACKETS.match(text, position)
        if match is None:
            raise GS1Error(
                N_("expected an Application Identifier in brackets, such as (01), at %(at)s"),
                at=text[position : position + 12],
            )
        ai = match.group(1)
        ai_spec(ai)
        position = match.end()
        value = []
        while position < len(text):
            if text.startswith("\\(", position):
                value.append("(")
                position += 2
            elif text[position] == "(" and _AI_IN_BRACKETS.match(text, position):
                break
            else:
                value.append(text[position])
                position += 1
        yield ai, "".join(value)


def _parse_raw(text: str) -> Iterator[tuple[str, str]]:
    for symbology in _SYMBOLOGY_IDS:
        if text.startswith(symbology):
            text = text[len(symbology) :]
            break
    position = 0
    while position < len(text):
        if text[position] == GS:  # a leading FNC1, or one after a predefined-length AI
            position += 1
            continue
        spec = None
        for size in (2, 3, 4):
            candidate = text[position : position + size]
            if len(candidate) == size and candidate in AI_SPECS:
                spec = AI_SPECS[candidate]
                break
        if spec is None:
            head = text[position : position + 4]
            digits = len(head) - len(head.lstrip("0123456789"))
            if digits < 2:
                raise GS1Error(
                    N_("expected an Application Identifier at %(at)s"),
                    at=text[position : position + 12],
                )
            raise UnknownAIError(
                N_("no Application Identifier TraceQR knows starts %(at)s"),
                ai=head[:2],
                at=text[position : position + 12],
            )
        position += len(spec.ai)
        if spec.predefined_length:
            end = position + spec.max_length
            if end > len(text):
                end = len(text)
        else:
            separator = text.find(GS, position)
            end = len(text) if separator < 0 else separator
        yield spec.ai, text[position:end]
        position = end


def format_element_string(elements: Iterable[tuple[str, str]], *, raw: bool = False) -> str:
    """``(AI, value)`` pairs → human-readable ``(01)…(10)…`` or, with ``raw``, the form a
    barcode carries: no brackets and a GS after every AI without a predefined length,
    except the last. Values are validated first."""
    items = [(ai, validate_ai(ai, value)) for ai, value in elements]
    if not raw:
        return "".join(f"({ai}){value.replace('(', chr(92) + '(')}" for ai, value in items)
    parts = []
    for index, (ai, value) in enumerate(items):
        parts.append(ai + value)
        if not AI_SPECS[ai].predefined_length and index < len(items) - 1:
            parts.append(GS)
    return "".join(parts)
