"""The Vietnamese catalogue: every message translated, every placeholder kept, none missing.

A translation that drops or adds a ``%(name)s`` or a bare ``%`` breaks the page that shows
it (Python's % formatting raises), so the catalogue is checked as a whole. A message added to
the source but never merged into the catalogue shows in English, so the catalogue is also
checked against what ``make extract-messages`` would extract."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "traceqr" / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
# The keywords of `make extract-messages` (-k _l -k lazy_gettext -k lazy_ngettext:1,2 -k N_),
# on top of babel's defaults (_, gettext, ngettext, pgettext …).
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "N_": None,
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%|%")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text) + ["%%"] * text.count("%%"))


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        for translation in strings:
            if placeholders(translation) != placeholders(ids[-1]):
                problems.append(f"placeholders differ: {ids[0]!r} -> {translation!r}")
    assert problems == []


def test_the_catalogue_holds_every_message_of_the_source() -> None:
    """Run `make extract-messages` (then translate) when this fails."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    missing = set()
    extracted = 0
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        extracted += 1
        entry = catalogue.get(message, context=context)
        # A plural message must be in the catalogue as that plural, both forms.
        if entry is None or (isinstance(message, tuple) and entry.id != message):
            missing.add(f"{filename}:{lineno}: {message!r}")
    assert extracted > 100  # the mapping still finds the source
    assert sorted(missing) == []
