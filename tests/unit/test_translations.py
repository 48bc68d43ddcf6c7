"""The Vietnamese catalogue: every message translated, every placeholder kept.

A translation that drops or adds a ``%(name)s`` or a bare ``%`` breaks the page that shows
it (Python's % formatting raises), so the catalogue is checked as a whole."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

CATALOGUE = (
    Path(__file__).resolve().parents[2]
    / "traceqr"
    / "translations"
    / "vi"
    / "LC_MESSAGES"
    / "messages.po"
)
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
