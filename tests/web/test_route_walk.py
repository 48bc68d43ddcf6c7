"""Every route of the app, every method, walked by people who must not see business A's data.

The walk reads ``app.url_map``, so a route added later is walked too: its URL variables are
filled with the ids of A's objects (``security_world``). Each endpoint must be classified
below; an unclassified one fails the test, so a new public route is a reviewed decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from tests.web.security_world import World, build_world, missing_security_headers

PUBLIC = "public"  # anybody; shows only what a business publishes to shoppers
SIGN_IN = "sign-in"  # sign-in, sign-up, password and invitation forms
BUSINESS = "business"  # a signed-in member of the business that owns the object
API = "api"  # the API key of the business that owns the object
INSPECTOR = "inspector"  # a signed-in market inspector
AUTHORITY = "authority"  # an officer of the market authority (reads the audit log)

# Reviewed classification of every endpoint. Public routes are the allow-list: each was read
# to check that it shows only what a business publishes on its stamps.
ROUTES: dict[str, str] = {
    # shoppers
    "public.home": PUBLIC,
    "public.stamp_page": PUBLIC,
    "public.digital_link_page": PUBLIC,
    "public.verify_entered": PUBLIC,
    "public.stamp_claim": PUBLIC,
    "public.stamp_place": PUBLIC,
    "public.link_claim": PUBLIC,
    "public.link_place": PUBLIC,
    "public.report": PUBLIC,
    "public.media": PUBLIC,  # product photos and logos, under random names
    "public.healthz": PUBLIC,
    "public.jwks": PUBLIC,
    "public.journey_pages": PUBLIC,  # a stamp's or product link's journey, page by page
    "static": PUBLIC,
    "api.verify": PUBLIC,
    "api.openapi": PUBLIC,
    "offline.page": PUBLIC,
    "offline.manifest": PUBLIC,
    "offline.service_worker": PUBLIC,
    # signing in
    "portal.login": SIGN_IN,
    "portal.signup": SIGN_IN,
    "portal.signup_sent": SIGN_IN,  # "check your e-mail" after a sign-up
    "portal.forgot": SIGN_IN,
    "portal.reset": SIGN_IN,
    "portal.accept_invite": SIGN_IN,
    "portal.logout": SIGN_IN,
    "portal.home_redirect": PUBLIC,  # only a redirect to the dashboard
    "inspector.login": SIGN_IN,
    "inspector.logout": SIGN_IN,
    # the business portal
    "portal.dashboard": BUSINESS,
    "portal.change_password": BUSINESS,
    "portal.profile": BUSINESS,
    "portal.verification": BUSINESS,
    "portal.verification_document": BUSINESS,
    "portal.team": BUSINESS,
    "portal.remove_member": BUSINESS,
    "portal.change_role": BUSINESS,
    "portal.keys": BUSINESS,
    "portal.revoke_api_key": BUSINESS,
    "portal.rotate_key": BUSINESS,
    "portal.detection_settings": BUSINESS,
    "portal.reports": BUSINESS,
    "portal.report_photo": BUSINESS,
    "portal.products": BUSINESS,
    "portal.new_product": BUSINESS,
    "portal.product": BUSINESS,
    "portal.edit_product": BUSINESS,
    "portal.add_image": BUSINESS,
    "portal.remove_image": BUSINESS,
    "portal.add_certification": BUSINESS,
    "portal.remove_certification": BUSINESS,
    "portal.new_batch": BUSINESS,
    "portal.batches": BUSINESS,
    "portal.batch": BUSINESS,
    "portal.edit_batch": BUSINESS,
    "portal.batch_stamps": BUSINESS,
    "portal.issue": BUSINESS,
    "portal.activate": BUSINESS,
    "portal.revoke": BUSINESS,
    "portal.recall": BUSINESS,
    "portal.job": BUSINESS,
    "portal.job_json": BUSINESS,
    "portal.job_sheet_pdf": BUSINESS,
    "portal.sheet_job": BUSINESS,
    "portal.sheet_designer": BUSINESS,
    "portal.sheet_preview": BUSINESS,
    "portal.sheet_pdf": BUSINESS,
    "portal.stamps_csv": BUSINESS,
    "portal.print_pack": BUSINESS,
    "portal.facilities": BUSINESS,
    "portal.journey": BUSINESS,
    "portal.add_event": BUSINESS,
    "portal.import_events": BUSINESS,
    "portal.export_epcis": BUSINESS,
    "portal.passport": BUSINESS,
    "portal.import_epcis": BUSINESS,
    "portal.ship": BUSINESS,
    "portal.shipments": BUSINESS,
    "portal.accept_shipment": BUSINESS,
    "portal.refuse_shipment": BUSINESS,
    # the API
    "api.create_product": API,
    "api.get_product": API,
    "api.create_batch": API,
    "api.get_batch": API,
    "api.issue_stamps": API,
    "api.issue_stamps_in_background": API,
    "api.get_job": API,
    "api.sheet_in_background": API,
    "api.job_sheet_pdf": API,
    "api.activate_batch": API,
    "api.recall_batch": API,
    "api.stamps_csv": API,
    "api.sheet_pdf": API,
    "api.get_stamp": API,
    "api.activate_stamp": API,
    "api.revoke_stamp": API,
    "api.list_facilities": API,
    "api.create_facility": API,
    "api.list_events": API,
    "api.record_event": API,
    "api.import_events_csv": API,
    "api.export_epcis": API,
    "api.import_epcis": API,
    "api.ship_batch": API,
    "api.list_shipments": API,
    "api.accept_shipment": API,
    "api.refuse_shipment": API,
    "api.batch_passport": API,
    # inspectors
    "inspector.home": INSPECTOR,
    "inspector.dossier": INSPECTOR,
    "inspector.photo": INSPECTOR,
    "inspector.reports": INSPECTOR,
    "inspector.report_photo": INSPECTOR,
    "inspector.case_note_photo": INSPECTOR,
    "inspector.flag_stamp": INSPECTOR,
    "inspector.flag_batch": INSPECTOR,
    "inspector.lift_flag": INSPECTOR,
    "inspector.cases": INSPECTOR,
    "inspector.case": INSPECTOR,
    "inspector.case_note": INSPECTOR,
    "inspector.case_add_stamp": INSPECTOR,
    "inspector.case_add_stamp_id": INSPECTOR,
    "inspector.case_add_batch": INSPECTOR,
    "inspector.case_add_report": INSPECTOR,
    "inspector.case_close": INSPECTOR,
    "inspector.case_file_json": INSPECTOR,
    "inspector.case_file_pdf_view": INSPECTOR,
    # checking the operator (docs/keys.md, docs/audit.md)
    "transparency.root_key": PUBLIC,
    "transparency.audit_head": PUBLIC,  # a signed sequence number and hash: no records
    "transparency.audit_export": AUTHORITY,
    # the market authority's officers
    "authority.login": SIGN_IN,
    "authority.logout": SIGN_IN,
    "authority.home": AUTHORITY,
    "authority.clusters": AUTHORITY,
    "authority.cluster": AUTHORITY,
    "authority.cluster_csv": AUTHORITY,
    "authority.cluster_pdf": AUTHORITY,
    "authority.new_cluster": AUTHORITY,
    "authority.edit_cluster": AUTHORITY,
    "authority.import_clusters": AUTHORITY,
    "authority.register_csv": AUTHORITY,
    "authority.evidence": AUTHORITY,
    "authority.evidence_csv": AUTHORITY,
    "authority.hot_spots": AUTHORITY,
    "authority.hot_spots_csv": AUTHORITY,
    "authority.province": AUTHORITY,
    "authority.province_csv": AUTHORITY,
    "authority.province_pdf": AUTHORITY,
    "authority.verification_queue": AUTHORITY,
    "authority.verification_decided": AUTHORITY,
    "authority.identity_alerts": AUTHORITY,
    "authority.resolve_identity_alert": AUTHORITY,
    "authority.verification_request": AUTHORITY,
    "authority.verification_document": AUTHORITY,
    "authority.verification_document_page": AUTHORITY,
    "authority.approve_request": AUTHORITY,
    "authority.reject_request": AUTHORITY,
    "authority.business_identity": AUTHORITY,
    "authority.withdraw_business": AUTHORITY,
}

# URL variables that mean something else on one endpoint.
ENDPOINT_VALUES: dict[str, dict[str, str]] = {
    "static": {"filename": "css/app.css"},
    "authority.province": {"code": "ha-noi"},
    "authority.province_csv": {"code": "ha-noi"},
    "authority.province_pdf": {"code": "ha-noi"},
}
# URL variables that name no business's object. The world holds no verification request
# or identity alert: their ids name none (B and the officers must still get a refusal);
# business 1 is A, outside the officer's province (ha-noi).
SHARED_VALUES: dict[str, Any] = {
    "cluster_id": 1,
    "table": "scans",
    "request_id": 1,
    "alert_id": 1,
    "business_id": 1,
    "document": "registration",
    "page": 1,
}

# A form post that a person could plausibly send: enough fields that a route missing its
# ownership check would act on it.
FORM_FIELDS = {
    "reason": "thử",
    "count": "1",
    "active": "y",
    "role": "owner",
    "name": "Thử",
    "lot": "LB-1",
    "kind": "OCOP",
    "title": "Thử",
    "text": "Thử",
    "biz_step": "packing",
    "partner": "0100109106",
    "email": "someone@example.vn",
    "password": "wrong password 1",
    "code": "x",
    "pin": "12345678",
}

# JSON bodies by the last segment of an API path.
API_BODIES: dict[str, Any] = {
    "products": {"name": "Thử"},
    "batches": {"lot": "LB-1"},
    "stamps": {"count": 1},
    "stamp-jobs": {"count": 1},
    "recall": {"reason": "thử"},
    "revoke": {"reason": "thử"},
    "facilities": {"name": "Thử"},
    "events": {"biz_step": "packing"},
    "shipments": {"partner": "0100109106"},
    "accept": {},
    "refuse": {},
    "activate": {},
}

SIGN_OUT = {"portal.logout", "inspector.logout", "authority.logout"}


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def walk_order(app: Flask) -> list[Rule]:
    """Every rule, signing out last (it ends the walker's session)."""
    rules = list(app.url_map.iter_rules())
    return sorted(rules, key=lambda r: (r.endpoint in SIGN_OUT, r.rule))


def path_of(world: World, rule: Rule) -> str:
    values = {**SHARED_VALUES, **world.ids, **ENDPOINT_VALUES.get(rule.endpoint, {})}
    missing = sorted(set(rule.arguments) - set(values))
    assert not missing, (
        f"{rule.rule} takes {missing}: add one of business A's objects for it in "
        "tests/web/security_world.py"
    )
    _, path = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)  # type: ignore[misc]
    return path


class Walker:
    """One identity: a browser session (maybe signed in) and maybe an API key."""

    def __init__(self, name: str, client: FlaskClient, api_key: str | None = None) -> None:
        self.name = name
        self.client = client
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def csrf_token(self) -> str:
        from tests.web.portal_client import Page

        for path in ("/portal/login", "/report?code=x", "/inspect/login"):
            page = Page(self.client.get(path))
            if page.reader.tokens:
                return page.reader.tokens[0]
        raise AssertionError("no form gave a CSRF token")

    def request(self, method: str, path: str) -> Any:
        if method == "GET":
            return self.client.get(path, headers=self.headers)
        if path.startswith("/api/"):
            segment = path.rstrip("/").rsplit("/", 1)[-1]
            if segment.endswith(".csv"):
                return self.client.open(
                    path,
                    method=method,
                    headers={**self.headers, "Content-Type": "text/csv"},
                    data="biz_step\npacking\n",
                )
            if segment.endswith("capture"):
                return self.client.open(
                    path,
                    method=method,
                    headers={**self.headers, "Content-Type": "application/ld+json"},
                    data=json.dumps({"type": "EPCISDocument"}),
                )
            return self.client.open(
                path, method=method, headers=self.headers, json=API_BODIES.get(segment, {})
            )
        return self.client.open(
            path,
            method=method,
            headers=self.headers,
            data={"csrf_token": self.csrf_token(), **FORM_FIELDS},
        )


def redirect_target(response: Any) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def check(world: World, walker: Walker, rule: Rule, method: str, response: Any) -> list[str]:
    """What is wrong with this answer, if anything."""
    kind = ROUTES[rule.endpoint]
    where = f"{walker.name}: {method} {rule.rule} ({rule.endpoint}) -> {response.status_code}"
    status = response.status_code
    problems: list[str] = []
    if status >= 500:
        return [f"{where}: server error"]
    body = response.get_data().decode("utf-8", "replace")
    response.close()
    hidden = world.never_public if kind in (PUBLIC,) else world.never_public + world.private
    if (walker.name, kind) in (("inspector", INSPECTOR), ("authority", AUTHORITY)):
        hidden = [world.a_email, world.a_api_key]  # officials may read A's records
    for marker in hidden:
        if marker in body or marker in json.dumps(dict(response.headers)):
            problems.append(f"{where}: shows A's private text {marker!r}")
    owned_object = bool(set(rule.arguments) - {"filename", "code", "rest", "token"})
    if kind == BUSINESS:
        if walker.name == "business B" and owned_object and status not in (403, 404):
            problems.append(f"{where}: expected 403 or 404 for A's object")
        if walker.name != "business B" and not (
            status == 302 and redirect_target(response) == "/portal/login"
        ):
            problems.append(f"{where}: expected a redirect to the portal sign-in")
    elif kind == API:
        if walker.name == "business B" and owned_object and status != 404:
            problems.append(f"{where}: expected 404 for A's object")
        if walker.name != "business B" and status != 401:
            problems.append(f"{where}: expected 401 without an API key")
    elif kind == INSPECTOR and walker.name != "inspector":
        signing_in = status == 302 and redirect_target(response) == "/inspect/login"
        if not (signing_in or (walker.name == "authority" and status == 403)):
            problems.append(f"{where}: expected a redirect to the inspector sign-in")
    elif kind == AUTHORITY and walker.name != "authority":
        signing_in = status == 302 and redirect_target(response).endswith("/login")
        if not (signing_in or status in (401, 403, 404)):
            problems.append(f"{where}: expected a refusal or a redirect to a sign-in page")
    problems.extend(f"{where}: {missing}" for missing in missing_security_headers(response))
    signed_in = walker.name != "anonymous"
    if signed_in and status == 200 and kind in (BUSINESS, API, INSPECTOR, AUTHORITY):
        cache = response.headers.get("Cache-Control", "")
        if "no-store" not in cache and "private" not in cache:
            problems.append(f"{where}: a shared cache may keep it ({cache!r})")
    if status == 200 and response.mimetype == "text/html":
        from tests.web.security_world import inline_code

        problems.extend(f"{where}: {found}" for found in inline_code(body))
    return problems


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def walkers(world: World) -> Iterator[Walker]:
    yield Walker("anonymous", world.app.test_client())
    yield Walker("business B", world.b_portal.client, world.b_api_key)
    yield Walker("inspector", world.inspector.client)
    yield Walker("authority", world.authority.client)


def test_every_route_is_classified(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    unclassified = sorted(endpoints - set(ROUTES))
    assert not unclassified, (
        f"classify these endpoints in tests/web/test_route_walk.py ROUTES: {unclassified}"
    )
    gone = sorted(set(ROUTES) - endpoints)
    assert not gone, f"these endpoints no longer exist; remove them from ROUTES: {gone}"


def test_nobody_else_sees_or_changes_business_a_data_on_any_route(app: Flask) -> None:
    world = build_world(app)
    before = world.snapshot()
    problems: list[str] = []
    walked = 0
    for walker in walkers(world):
        for rule in walk_order(app):
            if rule.endpoint not in ROUTES:
                continue  # test_every_route_is_classified names it
            path = path_of(world, rule)
            for method in methods_of(rule):
                response = walker.request(method, path)
                problems.extend(check(world, walker, rule, method, response))
                walked += 1
    assert not problems, "\n".join(problems)
    assert walked >= 4 * 150
    assert world.snapshot() == before
    # A still works normally: its key and session were not touched by anybody.
    assert world.a_api.get(f"/products/{world.ids['product_id']}").status_code == 200
    assert world.a_portal.get("/portal/products").endpoint == "portal.products"


def test_ids_no_row_can_have_never_reach_the_database(app: Flask) -> None:
    """An id past its column's range (2**31 - 1 for most tables on PostgreSQL) never
    reaches the database, which would refuse it with a 500: the URL does not match."""
    world = build_world(app)
    owner = Walker("business A", world.a_portal.client, world.a_api_key)
    checked = 0
    problems = []
    for rule in walk_order(app):
        converters = {name: type(conv).__name__ for name, conv in rule._converters.items()}
        too_big = {
            name: 2**31 if kind == "IdConverter" else 2**63
            for name, kind in converters.items()
            if kind in ("IdConverter", "BigIdConverter")
        }
        if not too_big or rule.endpoint in SIGN_OUT:
            continue
        values = {**SHARED_VALUES, **world.ids, **ENDPOINT_VALUES.get(rule.endpoint, {})}
        values.update(too_big)
        # Built by hand: the converters would refuse to build a URL with these ids.
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m, v=values: str(v[m.group(1)]), rule.rule)
        for method in methods_of(rule):
            response = owner.request(method, path)
            response.close()
            checked += 1
            # 405 where another method's rule matched the path before its id was read.
            if response.status_code not in (404, 405):
                problems.append(f"{method} {path} ({rule.endpoint}): {response.status_code}")
    assert not problems, "\n".join(problems)
    assert checked >= 60
