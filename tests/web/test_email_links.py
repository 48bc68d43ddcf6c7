"""Links sent by e-mail point at the public URL, whatever Host header the request had: a
password reset asked for with ``Host: attacker.example`` must not mail the victim a link
that gives the attacker the token."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask

from tests.web.portal_client import PortalClient
from traceqr.mail import wait_for_mail

EVIL = {"HTTP_HOST": "attacker.example", "HTTP_X_FORWARDED_HOST": "attacker.example"}


@pytest.fixture
def owner(app: Flask) -> PortalClient:
    portal = PortalClient(app.test_client())
    assert portal.signup("Cơ sở", "owner@example.vn").endpoint == "portal.profile"
    return portal


def test_a_reset_link_ignores_the_host_header(
    app: Flask, owner: PortalClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = app.test_client()
    page = client.get("/portal/forgot", environ_overrides=EVIL)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(True))
    assert token
    with caplog.at_level(logging.WARNING, logger="traceqr.mail"):
        response = client.post(
            "/portal/forgot",
            data={"csrf_token": token.group(1), "email": "owner@example.vn"},
            environ_overrides=EVIL,
        )
        wait_for_mail()  # sent after the answer, by the mail thread
    assert response.status_code in (200, 302)
    assert "attacker.example" not in caplog.text
    assert re.search(r"https://traceqr\.example\.vn/portal/reset/\S+", caplog.text)


def test_an_invitation_link_is_on_the_public_url(
    owner: PortalClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = owner.token("/portal/team")
    with caplog.at_level(logging.WARNING, logger="traceqr.mail"):
        owner.client.post(
            "/portal/team", data={"csrf_token": token, "email": "staff@example.vn", "role": "staff"}
        )
    assert "localhost" not in caplog.text  # the host this request came in on
    assert re.search(r"https://traceqr\.example\.vn/portal/invite/\S+", caplog.text)
