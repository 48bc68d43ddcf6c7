"""The offline verifier: an installable page inspectors load once, then use with no network.

* ``/inspect/offline/`` — the page. It checks a stamp's Ed25519 signature in the browser
  (``static/offline/verify.js``) against the public key set (``/.well-known/jwks.json``),
  read from the camera, a photo or pasted text (``static/offline/app.js``).
* ``/inspect/offline/sw.js`` — the service worker. It precaches the page, its scripts and
  styles and the key set, then answers from its cache: cache first for the page and its
  files, network first (cache when offline) for the key set, so new keys arrive whenever
  there is a network. Its cache version is a digest of the files it precaches, so a new
  release replaces them on the next online visit.
* ``/inspect/offline/manifest.webmanifest`` — the web app manifest ("install the app").

The key set is public and the check needs no account: the page is public too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from traceqr.web.context import state
from traceqr.web.i18n import LANGUAGES, current_language
from traceqr.web.i18n import gettext as _

blueprint = Blueprint("offline", __name__, url_prefix="/inspect/offline")

# Static files the page needs, all precached by the worker.
STATIC_FILES = (
    "css/app.css",
    "img/icon.svg",
    "offline/offline.css",
    "offline/verify.js",
    "offline/app.js",
    "offline/vendor/jsQR.js",
    "offline/vendor/nacl.min.js",
)
# Templates whose text ends up in what the worker caches: part of its version.
TEMPLATES = ("offline/verifier.html", "offline/sw.js", "base.html")
THEME_COLOR = "#0b6e4f"
BACKGROUND_COLOR = "#f3f5f7"


def scope() -> str:
    return url_for("offline.page")


def page_urls() -> list[str]:
    """Every spelling of the page a visitor gets: bare, and with each ``?lang=``."""
    return [scope()] + [url_for("offline.page", lang=lang) for lang in LANGUAGES]


def manifest_urls() -> list[str]:
    return [url_for("offline.manifest", lang=lang) for lang in LANGUAGES]


def precache_version() -> str:
    """A digest of everything the worker caches by version: files and templates."""
    digest = hashlib.sha256()
    static_folder = Path(current_app.static_folder or "static")
    for name in STATIC_FILES:
        digest.update(name.encode() + b"\0")
        digest.update((static_folder / name).read_bytes())
    loader = current_app.jinja_env.loader
    assert loader is not None
    for name in TEMPLATES:
        source, _filename, _uptodate = loader.get_source(current_app.jinja_env, name)
        digest.update(name.encode() + b"\0" + source.encode())
    translations = Path(current_app.root_path) / "translations"
    for catalogue in sorted(translations.glob("*/LC_MESSAGES/messages.mo")):
        digest.update(catalogue.read_bytes())
    return digest.hexdigest()[:16]


@blueprint.get("/")
def page() -> Response:
    if not request.path.endswith("/"):
        # The worker's scope is /inspect/offline/: only that spelling works offline.
        return redirect(url_for("offline.page", **request.args.to_dict()), 308)  # type: ignore[return-value]
    settings = state().settings
    response = Response(
        render_template(
            "offline/verifier.html",
            jwks_url=url_for("public.jwks"),
            sw_url=url_for("offline.service_worker"),
            scope=scope(),
            public_url=settings.public_url,
            manifest_url=url_for("offline.manifest", lang=current_language()),
            theme_color=THEME_COLOR,
            stale_after_days=7,
        )
    )
    # Always revalidated over the network (cheaply, by ETag); offline, the service worker
    # answers instead.
    response.headers["Cache-Control"] = "no-cache"
    response.vary.add("Accept-Language")
    response.add_etag()
    return response.make_conditional(request)


@blueprint.get("/sw.js")
def service_worker() -> Response:
    worker = {
        "version": precache_version(),
        "scope": scope(),
        "pages": page_urls(),
        "assets": [url_for("static", filename=name) for name in STATIC_FILES] + manifest_urls(),
        "jwks": url_for("public.jwks"),
    }
    body = render_template("offline/sw.js", worker=worker)
    response = Response(body, mimetype="application/javascript")
    response.headers["Service-Worker-Allowed"] = scope()
    # Browsers check the worker for updates at every navigation and bypass their HTTP cache
    # for it (at most a day); no-cache keeps proxies honest too. An ETag makes the check
    # cheap.
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    return response.make_conditional(request)


@blueprint.get("/manifest.webmanifest")
def manifest() -> Response:
    lang = current_language()
    document = {
        "id": scope(),
        "name": _("TraceQR offline stamp check"),
        "short_name": _("TraceQR check"),
        "description": _(
            "Checks the signature of TraceQR stamps with the camera, even with no network."
        ),
        "lang": lang,
        "start_url": url_for("offline.page", lang=lang),
        "scope": scope(),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": BACKGROUND_COLOR,
        "theme_color": THEME_COLOR,
        "icons": [
            {
                "src": url_for("static", filename="img/icon.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
                "purpose": "any",
            }
        ],
    }
    response = Response(
        json.dumps(document, ensure_ascii=False, indent=1), mimetype="application/manifest+json"
    )
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.vary.add("Accept-Language")
    return response
