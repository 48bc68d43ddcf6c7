"""Languages: Vietnamese first, English on request.

The language is ``?lang=vi|en`` when given, else the best match of the browser's
Accept-Language, else Vietnamese.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask import Flask, g, request, session, url_for
from flask_babel import Babel, format_decimal, get_locale

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


def select_locale() -> str:
    """``?lang=`` first; in the portal then the language chosen before (kept in the
    session); then the browser's Accept-Language; then Vietnamese."""
    if "lang" not in g:
        asked = request.args.get("lang", "").strip().lower()
        g.lang_explicit = asked in LANGUAGES
        in_portal = request.path.startswith(("/portal", "/authority"))
        if g.lang_explicit:
            g.lang = asked
            if in_portal:
                session["lang"] = asked
        elif in_portal and session.get("lang") in LANGUAGES:
            g.lang = session["lang"]
        else:
            g.lang = request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE
    return g.lang  # type: ignore[no-any-return]


def current_language() -> str:
    return str(get_locale() or DEFAULT_LANGUAGE)


def url_with_lang(endpoint: str, **values: Any) -> str:
    """url_for that keeps an explicitly chosen language across links."""
    select_locale()
    if g.get("lang_explicit") and "lang" not in values:
        values["lang"] = g.lang
    return url_for(endpoint, **values)


def switch_language_url(lang: str) -> str:
    args = request.args.to_dict()
    args["lang"] = lang
    return url_for(request.endpoint or "public.home", **(request.view_args or {}), **args)


def vn_date(value: date | datetime | None) -> str:
    from traceqr.domain.dates import format_vn_date

    return format_vn_date(value)


def vn_datetime(value: datetime | None) -> str:
    from traceqr.domain.dates import format_vn_datetime

    return format_vn_datetime(value)


def number(value: int | float | None) -> str:
    """Thousands separators as the language writes them: 1.234.567 in vi, 1,234,567 in en."""
    return "" if value is None else format_decimal(value)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(vn_date=vn_date, vn_datetime=vn_datetime, number=number)
    app.jinja_env.globals.update(
        url_with_lang=url_with_lang,
        switch_language_url=switch_language_url,
        current_language=current_language,
        LANGUAGES=LANGUAGES,
    )
