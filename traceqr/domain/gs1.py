"""GS1 identifiers: GTIN check digits and the character set of lots and serials."""

from __future__ import annotations

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
