"""Languages: Vietnamese first, English on request.

The language is ``?lang=vi|en`` when given, else the best match of the browser's
Accept-Language, else Vietnamese.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.support import NullTranslations
from flask import Flask, g, has_app_context, has_request_context, request, session, url_for
from flask_babel import Babel, format_decimal, get_locale, get_translations
from flask_babel.speaklater import LazyString

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


# One catalogue per locale for the life of the process (the files never change under a
# running service). Flask-Babel looks the catalogue up anew on every message — its context,
# the locale's identifier, the domain — which was a tenth of the stamp page's time.
_CATALOGUES: dict[Any, NullTranslations] = {}
_BY_LANGUAGE: dict[str | None, NullTranslations] = {}  # the same, by select_locale's answer


def translations() -> NullTranslations:
    """The catalogue of the language being shown, honouring ``force_locale``: the locale
    Flask-Babel settled on for this request (or the forced one) keys a per-process cache."""
    if not has_app_context():
        return get_translations()
    babel_context = g.get("_flask_babel")
    locale = getattr(babel_context, "babel_locale", None)
    if locale is None:  # the request's first message
        # Flask-Babel would choose the locale with select_locale too, then parse it and
        # look the catalogue up: a catalogue cached for that language is the same one.
        language = select_locale() if has_request_context() else None
        cached = _BY_LANGUAGE.get(language)
        if cached is not None:
            return cached
        catalogue = get_translations()
        locale = getattr(g.get("_flask_babel"), "babel_locale", None)
        if locale is not None:
            _CATALOGUES.setdefault(locale, catalogue)
            if language is not None and str(locale) == language:
                _BY_LANGUAGE[language] = catalogue
        return catalogue
    try:
        return _CATALOGUES[locale]
    except KeyError:
        return _CATALOGUES.setdefault(locale, get_translations())


def gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's ``gettext``, through the cached catalogue."""
    text = translations().ugettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Flask-Babel's ``ngettext`` (``%(num)s`` is the count), through the cached catalogue."""
    variables.setdefault("num", num)
    return translations().ungettext(singular, plural, num) % variables


def lazy_gettext(string: str, **variables: Any) -> LazyString:
    return LazyString(gettext, string, **variables)


def lazy_ngettext(singular: str, plural: str, num: int, **variables: Any) -> LazyString:
    return LazyString(ngettext, singular, plural, num, **variables)


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
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda text: translations().ugettext(text),
        ngettext=lambda singular, plural, n: translations().ungettext(singular, plural, n),
        newstyle=True,
        pgettext=lambda context, text: translations().upgettext(context, text),
        npgettext=lambda context, singular, plural, n: translations().unpgettext(
            context, singular, plural, n
        ),
    )
    app.jinja_env.filters.update(vn_date=vn_date, vn_datetime=vn_datetime, number=number)
    app.jinja_env.globals.update(
        url_with_lang=url_with_lang,
        switch_language_url=switch_language_url,
        current_language=current_language,
        LANGUAGES=LANGUAGES,
    )
