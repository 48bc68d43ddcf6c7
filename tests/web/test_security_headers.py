"""Cookies, security headers and a Content-Security-Policy that needs no inline code.

The route walk (test_route_walk.py) checks the headers on every answer of every route;
these tests check what differs between an https and a plain-http deployment, the upload
answers, and the templates themselves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.web.portal_client import PortalClient
from tests.web.security_world import inline_code, missing_security_headers
from traceqr.web.security import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[2]


def session_cookie(response: Any) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "the answer sets the session cookie"
    return cookies[0]


def test_over_https_the_session_cookie_is_secure_httponly_and_same_site(app: Flask) -> None:
    portal = PortalClient(app.test_client())
    response = portal.client.get("/portal/login")
    cookie = session_cookie(response)
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_over_plain_http_the_cookie_is_not_marked_secure_and_there_is_no_hsts(
    make_app: Any,
) -> None:
    app = make_app(public_url="http://127.0.0.1:5000")
    response = app.test_client().get("/portal/login")
    cookie = session_cookie(response)
    assert "; Secure" not in cookie  # a browser would drop it on http://127.0.0.1
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    assert "Strict-Transport-Security" not in response.headers
    # A TLS-terminating proxy in front still gets HSTS for its https requests.
    secure = app.test_client().get("/", base_url="https://127.0.0.1:5000")
    assert "max-age=" in secure.headers["Strict-Transport-Security"]


def test_the_signed_in_session_cookie_keeps_its_flags(app: Flask) -> None:
    portal = PortalClient(app.test_client())
    token = portal.token("/portal/signup")
    response = portal.client.post(
        "/portal/signup",
        data={
            "csrf_token": token,
            "business_name": "Cơ sở",
            "name": "Chủ",
            "email": "owner@example.vn",
            "password": "correct horse battery",
            "confirm": "correct horse battery",
        },
    )
    assert response.status_code == 302
    cookie = session_cookie(response)
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/S/NOT-A-STAMP",
        "/portal/login",
        "/inspect/login",
        "/inspect/offline/",
        "/inspect/offline/sw.js",
        "/static/css/app.css",
        "/api/v1/openapi.json",
        "/api/v1/verify?q=x",
        "/api/v1/products/1",  # 401
        "/.well-known/jwks.json",
        "/no/such/page",  # 404 page
    ],
)
def test_every_kind_of_answer_carries_the_security_headers(client: Any, path: str) -> None:
    response = client.get(path)
    response.close()
    assert missing_security_headers(response) == []


def test_uploaded_files_are_served_sandboxed(app: Flask) -> None:
    from tests.web.security_world import jpeg_bytes
    from traceqr.services.uploads import store_image
    from traceqr.state import AppState

    stored = store_image(
        jpeg_bytes(), AppState.of(app).settings.uploads_path, field="photo", max_bytes=10**6
    )
    response = app.test_client().get(f"/media/{stored.filename}")
    response.close()
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "image/jpeg"


def test_the_policy_forbids_inline_code_and_framing() -> None:
    directives = dict(part.partition(" ")[::2] for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"


def templates() -> list[Path]:
    found = sorted((ROOT / "templates").rglob("*.html"))
    assert len(found) > 20
    return found


def test_no_template_holds_inline_script_handlers_or_styles() -> None:
    """The policy allows neither inline scripts nor inline styles, so no template may have
    a <script> without src, an on…= handler, a style= attribute, a <style> element or a
    javascript: URL: a browser would refuse them."""
    problems = []
    for path in templates():
        source = path.read_text(encoding="utf-8")
        # Jinja expressions may hold '<' or quotes that confuse an HTML reader: blank them.
        source = re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", "x", source, flags=re.DOTALL)
        problems += [f"{path.relative_to(ROOT)}: {found}" for found in inline_code(source)]
    assert problems == []


def test_the_inline_code_finder_finds_what_the_policy_would_block() -> None:
    page = (
        '<p style="color:red">x</p><a href="javascript:alert(1)">a</a>'
        '<button onclick="go()">b</button><script>alert(1)</script><style>p{}</style>'
        '<script src="/static/js/place.js"></script>'
    )
    found = inline_code(page)
    assert len(found) == 5, found
    assert inline_code('<script src="/static/js/job.js" defer></script>') == []


def test_scripts_never_write_html_or_styles_that_the_policy_blocks() -> None:
    """Scripts in static/ build pages with DOM calls, not innerHTML strings or eval, so
    no inline handler or style reaches the page through them either."""
    pattern = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|\beval\(|new Function\(")
    problems = []
    for path in sorted((ROOT / "static").rglob("*.js")):
        if "vendor" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                problems.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert problems == []
