"""One shopper cannot poison a stamp, and forged codes do not count as a business's checks.

The abuse of issue 16: one client saying Hà Nội then Sài Gòn seconds later made any genuine
stamp suspicious; one client checking again and again made it suspicious on the count; and
forged codes naming a business's key id counted as that business's warnings and moved its
cluster up the authority's counterfeit hot spots.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from tests.web.test_authority import REGISTER, official, read_csv
from traceqr.models import Business, Cluster
from traceqr.services.clusters import import_register
from traceqr.state import AppState, utcnow

OWNER_PASSWORD = "correct horse battery"


def one_stamp(api: Api) -> str:
    created = api.batch()
    api.issue(created["id"], 1)
    return api.stamp_urls(created["id"])[0]


def check_from(client: FlaskClient, url: str, address: str, **params: str) -> dict[str, Any]:
    response = client.get(
        "/api/v1/verify",
        query_string={"q": url, **params},
        environ_base={"REMOTE_ADDR": address},
    )
    assert response.status_code == 200
    return response.get_json()


def test_one_client_saying_ha_noi_then_sai_gon_cannot_make_a_stamp_suspicious(api: Api) -> None:
    url = one_stamp(api)
    here = api.verify(url, lat="21.03", lon="105.85")
    there = api.verify(url, lat="10.78", lon="106.70")  # the same client, seconds later
    assert (here["status"], there["status"]) == ("genuine", "genuine")
    assert there["reasons"] == []
    # The next shoppers, in Hà Nội, are told the truth: a genuine stamp.
    later = [
        check_from(api.client, url, f"203.0.113.{n}", province="ha-noi")["status"]
        for n in range(1, 6)
    ]
    assert later == ["genuine"] * 5


def test_one_client_checking_again_and_again_counts_once_for_copies(api: Api) -> None:
    url = one_stamp(api)
    answers = [api.verify(url) for _ in range(25)]
    assert [a["status"] for a in answers] == ["genuine"] * 25
    # The answer still says how often the stamp was verified, as the contract promises.
    assert answers[-1]["scans"]["count"] == 25


def forged(url: str) -> str:
    """The stamp's URL with one character of its signature changed."""
    i = len(url) - 6
    return url[:i] + ("B" if url[i] != "B" else "C") + url[i + 1 :]


def test_forged_codes_naming_a_key_are_kept_apart(
    app: Flask, client: FlaskClient, make_business: Any
) -> None:
    state = AppState.of(app)
    with state.database.session() as session:
        import_register(session, REGISTER, utcnow())
    maker = make_business(
        "Gốm sứ Hưng Thịnh",
        password=OWNER_PASSWORD,
        address_commune="Xã Bát Tràng",
        province_code="ha-noi",
    )
    with state.database.session() as session:
        business = session.get(Business, maker.business.id)
        assert business is not None
        business.cluster_id = session.scalar(
            select(Cluster.id).where(Cluster.name == "Cụm công nghiệp làng nghề Bát Tràng")
        )
    api = Api(client, maker.api_key)
    url = one_stamp(api)
    assert check_from(client, url, "203.0.113.1", province="ha-noi")["status"] == "genuine"
    for n in range(15):  # someone types codes with the maker's key id but no signature
        answer = check_from(client, forged(url), f"198.51.100.{n + 1}", province="ha-noi")
        assert (answer["status"], answer["reasons"]) == ("invalid", ["bad_signature"])

    # The authority: no hot spot for the maker's cluster or commune; the forged codes
    # are listed apart, under the producer whose key they name.
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    clusters = read_csv(hanoi.client.get("/authority/hot-spots/clusters.csv").get_data())
    producers = read_csv(hanoi.client.get("/authority/hot-spots/producers.csv").get_data())
    assert clusters == [] and producers == []
    page = hanoi.get("/authority/hot-spots")
    section = page.html[page.html.index('id="forged-codes"') :]
    assert "Gốm sứ Hưng Thịnh" in section
    assert re.search(r'<td class="num">15</td>', section), section[:2000]
    # Where they were checked is still a place where counterfeits turn up.
    provinces = read_csv(hanoi.client.get("/authority/hot-spots/provinces.csv").get_data())
    assert [(r["Invalid"]) for r in provinces if r["Province or city"].endswith("Hà Nội")] == ["15"]

    # The maker: one check, no warning; the forged codes shown apart.
    owner = PortalClient(app.test_client())
    owner.login(maker.owner.email, OWNER_PASSWORD)
    dashboard = owner.get("/portal/?lang=en")
    assert dashboard.endpoint == "portal.dashboard"
    stats = re.findall(r'<span class="stat-value">([^<]+)</span>', dashboard.html)
    assert "1" in stats  # checks in 30 days
    warnings = re.search(r'stat--warn"><span class="stat-value">([^<]+)</span>', dashboard.html)
    assert warnings is not None and warnings.group(1) == "0"
    forged_section = dashboard.html[dashboard.html.index('id="forged-codes"') :]
    assert re.search(r'<td class="num">15</td>', forged_section)
