"""Every form post outside the API needs the CSRF token of the sender's own session.

The test walks ``app.url_map`` for POST routes, so a form added later is covered too. It
posts as the person each form is for (A's owner, the inspector, a shopper), with every
field a real submission would carry, and only the token wrong or missing.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import Rule

from tests.web.portal_client import Page
from tests.web.security_world import World, build_world
from tests.web.test_route_walk import FORM_FIELDS, path_of

# The refusal page, in English or (once the catalogue has it) Vietnamese.
CSRF_TITLES = ("This form has expired", "Biểu mẫu đã hết hạn")


def form_posts(app: Flask) -> list[Rule]:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or set()) and not rule.endpoint.startswith("api.")
    ]
    # Signing out last: it ends the session the others post from.
    return sorted(rules, key=lambda r: (r.endpoint.endswith("logout"), r.rule))


def sender(world: World, rule: Rule) -> Page:
    """The client of the person the form is for, and a page of theirs with a form."""
    if rule.endpoint.startswith("inspector."):
        client = world.inspector.client
        page = Page(client.get("/inspect/cases"))
    elif rule.endpoint.startswith("authority."):
        client = world.authority.client
        page = Page(client.get("/authority/register/new"))
    elif rule.endpoint.startswith("portal."):
        client = world.a_portal.client
        page = Page(client.get("/portal/keys"))
    else:
        client = world.app.test_client()
        page = Page(client.get("/portal/login"))
    page.client = client  # type: ignore[attr-defined]
    return page


def test_every_form_post_refuses_a_missing_or_foreign_csrf_token(app: Flask) -> None:
    world = build_world(app)
    before = world.snapshot()
    foreign_token = Page(app.test_client().get("/portal/login")).reader.tokens[0]
    problems: list[str] = []
    rules = form_posts(app)
    for rule in rules:
        page = sender(world, rule)
        client = page.client  # type: ignore[attr-defined]
        assert page.reader.tokens, f"no form for {rule.endpoint}'s sender"
        path = path_of(world, rule)
        for label, data in (
            ("no token", dict(FORM_FIELDS)),
            ("another session's token", {**FORM_FIELDS, "csrf_token": foreign_token}),
            ("a made-up token", {**FORM_FIELDS, "csrf_token": "x" * 40}),
        ):
            response = client.post(path, data=data)
            body = response.get_data(as_text=True)
            if response.status_code != 400 or not any(t in body for t in CSRF_TITLES):
                problems.append(f"POST {path} ({rule.endpoint}), {label}: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert len(rules) >= 40
    assert world.snapshot() == before
    # The sessions are still signed in: a refused post signs nobody out.
    assert Page(world.a_portal.client.get("/portal/")).endpoint == "portal.dashboard"


def test_the_api_needs_no_csrf_token_because_it_takes_no_cookies(app: Flask) -> None:
    """The API is exempt from CSRF: it authenticates each call by its bearer key, so a
    signed-in browser session alone (what a forged cross-site request carries) gets 401."""
    world = build_world(app)
    response = world.a_portal.client.post("/api/v1/products", json={"name": "Giả mạo"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
