"""The authority's view: only aggregates and public facts, only for its own provinces; the
register of parks and clusters; CSV and PDF exports that open."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from traceqr.cli import main
from traceqr.models import Business, Cluster, User
from traceqr.services import shoppers
from traceqr.services.clusters import import_register
from traceqr.services.officials import create_official
from traceqr.state import AppState, utcnow

PASSWORD = "authority password 1"
REGISTER = """name,kind,province,commune,area_ha,status
Cụm công nghiệp làng nghề Bát Tràng,cụm công nghiệp,Hà Nội,Xã Bát Tràng,"16,5",đang hoạt động
Cụm công nghiệp Phú Thị,CCN,ha-noi,Xã Phú Thị,,operating
Khu công nghiệp Quế Võ,khu công nghiệp,Tỉnh Bắc Ninh,Phường Quế Võ,611,đang hoạt động
"""


@dataclass
class World:
    hanoi_api: Api
    hanoi_stamps: list[str]
    bacninh_api: Api
    bacninh_stamps: list[str]
    secrets: list[str]  # what must never show: API keys, e-mails, unpublished products


def official(app: Flask, email: str, provinces: list[str], role: str = "authority") -> PortalClient:
    state = AppState.of(app)
    with state.database.session() as session:
        create_official(
            session,
            email=email,
            name="Cán bộ Sở Công Thương",
            role=role,
            password=PASSWORD,
            provinces=provinces,
            now=utcnow(),
        )
    client = PortalClient(app.test_client())
    client.get("/authority/login?lang=en")  # kept in the session: English msgids are stable
    page = client.post(
        "/authority/login" if role == "authority" else "/inspect/login",
        {"email": email, "password": PASSWORD},
    )
    assert page.status == 200, page.text[:300]
    return client


@pytest.fixture
def world(app: Flask, client: Any, make_business: Any) -> World:
    state = AppState.of(app)
    with state.database.session() as session:
        import_register(session, REGISTER, utcnow())
    hanoi = make_business(
        "Gốm sứ Hưng Thịnh",
        address_commune="Xã Bát Tràng",
        province_code="ha-noi",
        cluster_name="Cụm công nghiệp làng nghề Bát Tràng",
    )
    idle = make_business("Gốm Đức Hạnh", address_commune="Xã Bát Tràng", province_code="ha-noi")
    bacninh = make_business(
        "Điện tử Quế Võ",
        address_commune="Phường Quế Võ",
        province_code="bac-ninh",
        cluster_name="Khu công nghiệp Quế Võ",
    )
    with state.database.session() as session:
        for business_id, cluster in (
            (hanoi.business.id, "Cụm công nghiệp làng nghề Bát Tràng"),
            (idle.business.id, "Cụm công nghiệp làng nghề Bát Tràng"),
            (bacninh.business.id, "Khu công nghiệp Quế Võ"),
        ):
            business = session.get(Business, business_id)
            assert business is not None
            business.cluster_id = session.scalar(select(Cluster.id).where(Cluster.name == cluster))
        staff = User(
            business_id=hanoi.business.id,
            email="nhanvien.bimat@example.vn",
            role="staff",
            created_at=utcnow(),
        )
        session.add(staff)
    hanoi_api = Api(client, hanoi.api_key)
    bacninh_api = Api(client, bacninh.api_key)
    hanoi_api.product(name="Sản phẩm chưa công bố BÍ MẬT")
    batch = hanoi_api.batch(product_id=hanoi_api.product(name="Bình gốm men rạn")["id"])
    hanoi_api.issue(batch["id"], 3)
    hanoi_stamps = hanoi_api.stamp_urls(batch["id"])
    bn_batch = bacninh_api.batch(product_id=bacninh_api.product(name="Bo mạch Quế Võ")["id"])
    bacninh_api.issue(bn_batch["id"], 2)
    bacninh_stamps = bacninh_api.stamp_urls(bn_batch["id"])
    # checks: genuine in Hà Nội, a copied Hà Nội stamp, fakes in Bắc Ninh
    for _ in range(3):
        hanoi_api.verify(hanoi_stamps[0], province="ha-noi")
    hanoi_api.verify(hanoi_stamps[1][:-4] + "AAAA", province="ha-noi")  # forged in Hà Nội
    for _ in range(4):
        bacninh_api.verify(bacninh_stamps[0], province="bac-ninh")
    for _ in range(5):
        bacninh_api.verify(bacninh_stamps[1][:-4] + "BBBB", province="bac-ninh")
    with state.database.session() as session:
        shoppers.create_report(
            session,
            stamp_id=None,
            business_id=None,
            scanned_text="fake",
            status="invalid",
            data={
                "shop_name": "Chợ Đồng Xuân",
                "province_code": "ha-noi",
                "contact": "0912 345 678",
            },
            photo=None,
            client_hash=None,
            now=utcnow(),
        )
        shoppers.create_report(
            session,
            stamp_id=None,
            business_id=None,
            scanned_text="fake",
            status="invalid",
            data={"shop_name": "Chợ Quế Võ BẮC NINH", "province_code": "bac-ninh"},
            photo=None,
            client_hash=None,
            now=utcnow(),
        )
    secrets = [
        hanoi.api_key,
        bacninh.api_key,
        hanoi.owner.email,
        "nhanvien.bimat@example.vn",
        "Sản phẩm chưa công bố BÍ MẬT",
        "0912 345 678",
        hanoi.signing_key.kid.hex(),
    ]
    return World(hanoi_api, hanoi_stamps, bacninh_api, bacninh_stamps, secrets)


def checked_by_many(api: Api, url: str, place: str, shoppers: int = 30) -> None:
    """One stamp checked by many different shoppers (one client's checks never count)."""
    for n in range(shoppers):
        response = api.client.get(
            "/api/v1/verify",
            query_string={"q": url, "province": place},
            environ_base={"REMOTE_ADDR": f"198.51.100.{n + 1}"},
        )
        assert response.status_code == 200


def pages_of(client: PortalClient, paths: list[str]) -> dict[str, bytes]:
    bodies = {}
    for path in paths:
        response = client.client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        bodies[path] = response.get_data()
    return bodies


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def pdf_text(body: bytes) -> str:
    assert body.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    return " ".join(text.split())  # table cells wrap their text over lines


ALL_PAGES = [
    "/authority/",
    "/authority/p/ha-noi",
    "/authority/p/ha-noi/clusters.csv",
    "/authority/p/ha-noi/communes.csv",
    "/authority/p/ha-noi/timeline.csv",
    "/authority/p/ha-noi/report.pdf",
    "/authority/hot-spots",
    "/authority/hot-spots/provinces.csv",
    "/authority/hot-spots/producers.csv",
    "/authority/hot-spots/clusters.csv",
    "/authority/hot-spots/places.csv",
    "/authority/evidence?province=ha-noi",
    "/authority/evidence/stamps.csv?province=ha-noi",
    "/authority/evidence/reports.csv?province=ha-noi",
    "/authority/register",
    "/authority/register.csv",
]


def test_an_authority_sees_its_province_and_nothing_of_another(app: Flask, world: World) -> None:
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    bodies = pages_of(hanoi, ALL_PAGES)
    for path, body in bodies.items():
        text = pdf_text(body) if path.endswith(".pdf") else body.decode("utf-8-sig")
        for foreign in ("Quế Võ", "Bắc Ninh", "BẮC NINH", "Điện tử"):
            assert foreign not in text, (path, foreign)
    page = hanoi.get("/authority/p/ha-noi")
    assert "Gốm sứ Hưng Thịnh" not in page.text  # a province shows aggregates, not names
    assert "Cụm công nghiệp làng nghề Bát Tràng" in page.text
    for path in (
        "/authority/p/bac-ninh",
        "/authority/p/bac-ninh/report.pdf",
        "/authority/p/bac-ninh/clusters.csv",
        "/authority/hot-spots?province=bac-ninh",
        "/authority/evidence?province=bac-ninh",
        "/authority/evidence?producer_province=bac-ninh",
    ):
        assert hanoi.client.get(path).status_code == 404, path
    with AppState.of(app).database.session() as session:
        que_vo = session.scalar(select(Cluster.id).where(Cluster.name == "Khu công nghiệp Quế Võ"))
    for path in (f"/authority/clusters/{que_vo}", f"/authority/register/{que_vo}"):
        assert hanoi.client.get(path).status_code == 404, path
    assert hanoi.client.get(f"/authority/evidence?cluster={que_vo}").status_code == 404


def test_the_other_province_sees_its_own_figures(app: Flask, world: World) -> None:
    bacninh = official(app, "sct@bacninh.gov.vn", ["bac-ninh"])
    rows = read_csv(bacninh.client.get("/authority/hot-spots/provinces.csv").get_data())
    assert [row["Province or city"] for row in rows] == ["Tỉnh Bắc Ninh"]
    assert rows[0]["Invalid"] == "5"
    assert rows[0]["Reports"] == "1"
    text = bacninh.get("/authority/hot-spots").text
    assert "Hà Nội" not in text and "Đồng Xuân" not in text


def test_no_private_data_anywhere(app: Flask, world: World) -> None:
    national = official(app, "cuc@moit.gov.vn", [])
    with AppState.of(app).database.session() as session:
        bat_trang = session.scalar(select(Cluster.id).where(Cluster.province_code == "ha-noi"))
    paths = [
        *ALL_PAGES,
        "/authority/p/bac-ninh",
        "/authority/p/bac-ninh/report.pdf",
        f"/authority/clusters/{bat_trang}",
        f"/authority/clusters/{bat_trang}/businesses.csv",
        f"/authority/clusters/{bat_trang}/report.pdf",
        "/authority/evidence",
        "/authority/evidence/reports.csv",
    ]
    bodies = pages_of(national, paths)
    for path, body in bodies.items():
        text = pdf_text(body) if path.endswith(".pdf") else body.decode("utf-8-sig")
        for secret in world.secrets:
            assert secret not in text, (path, secret)
    # the whole country: both provinces are listed
    home = national.get("/authority/").text
    assert "Thành phố Hà Nội" in home and "Tỉnh Bắc Ninh" in home


def test_figures_add_up_and_exports_decode(app: Flask, world: World) -> None:
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    clusters = read_csv(hanoi.client.get("/authority/p/ha-noi/clusters.csv").get_data())
    bat_trang = next(r for r in clusters if r["Park or cluster"].endswith("Bát Tràng"))
    assert bat_trang["Rank"] == "1"
    assert bat_trang["Businesses"] == "2"
    assert bat_trang["With stamps"] == "1"
    assert bat_trang["Adoption"] == "0.5"
    assert bat_trang["Stamps issued"] == "3"
    # The forged code naming the key is not the business's check (hot spots list it apart).
    assert bat_trang["Checks in the period"] == "3"
    assert bat_trang["Invalid"] == "0.0"
    assert bat_trang["Area (ha)"] == "16.5"
    communes = read_csv(hanoi.client.get("/authority/p/ha-noi/communes.csv").get_data())
    assert [(r["Commune or ward"], r["Businesses"]) for r in communes] == [("Xã Bát Tràng", "2")]
    places = read_csv(hanoi.client.get("/authority/hot-spots/places.csv").get_data())
    assert places == [
        {"Shop and address": "Chợ Đồng Xuân", "Province or city": "Thành phố Hà Nội",
         "Reports": "1", "Cases": "0"}
    ]  # fmt: skip
    spots = read_csv(hanoi.client.get("/authority/hot-spots/provinces.csv").get_data())
    assert spots[0]["Invalid"] == "1" and spots[0]["Reports"] == "1"

    en = pdf_text(hanoi.client.get("/authority/p/ha-noi/report.pdf?lang=en").get_data())
    assert "Businesses registered" in en and "Clusters ranked by adoption" in en
    assert "Cụm công nghiệp làng nghề Bát Tràng" in en and "50 %" in en
    vi = pdf_text(hanoi.client.get("/authority/p/ha-noi/report.pdf?lang=vi").get_data())
    assert "Thành phố Hà Nội" in vi and "Cụm công nghiệp làng nghề Bát Tràng" in vi
    assert "Xã Bát Tràng" in vi


def test_each_hot_spot_figure_links_to_the_dossiers_behind_it(app: Flask, world: World) -> None:
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    # far too many shoppers: the stamp now looks copied
    checked_by_many(world.hanoi_api, world.hanoi_stamps[2], "ha-noi")
    page = hanoi.get("/authority/hot-spots")
    link = next(
        href
        for href in _links(page.html)
        if "/authority/evidence" in href and "status=suspicious" in href
    )
    evidence = hanoi.get(link.replace("&amp;", "&"))
    dossiers = [href for href in _links(evidence.html) if href.startswith("/inspect/stamp?code=")]
    assert dossiers, evidence.text[:500]
    inspector = official(app, "qltt@hanoi.gov.vn", ["ha-noi"], role="inspector")
    dossier = inspector.get(dossiers[0].replace("&amp;", "&"))
    assert 'data-status="suspicious"' in dossier.html


def _links(html: str) -> list[str]:
    import re

    return re.findall(r'href="([^"]+)"', html)


def test_authority_and_inspector_areas_stay_apart(app: Flask, world: World) -> None:
    inspector = official(app, "qltt@hanoi.gov.vn", ["ha-noi"], role="inspector")
    assert inspector.get("/authority/").endpoint == "authority.login"
    authority = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    assert authority.get("/inspect/").endpoint == "inspector.login"
    assert authority.get("/portal/").endpoint == "portal.login"
    wrong = PortalClient(app.test_client()).post(
        "/authority/login", {"email": "qltt@hanoi.gov.vn", "password": PASSWORD}
    )
    assert wrong.errors == ["E-mail hoặc mật khẩu không đúng."]


def test_a_bad_period_is_explained(app: Flask, world: World) -> None:
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    page = hanoi.get("/authority/p/ha-noi?start=2026-05-01&end=2026-01-01")
    assert page.status == 200
    assert page.errors == ["The period starts after it ends."]


# --- the register ------------------------------------------------------------------------


def test_an_import_with_a_bad_line_imports_nothing_and_names_every_line(
    app: Flask, world: World
) -> None:
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    text = (
        "name,kind,province,commune,area_ha,status\n"
        "Cụm công nghiệp Kiêu Kỵ,cụm công nghiệp,Hà Nội,Xã Kiêu Kỵ,12,đang hoạt động\n"
        "Cụm công nghiệp Phú Túc,nhà máy,Hà Nội,Xã Phú Túc,ba ha,đang hoạt động\n"
        "Khu công nghiệp Yên Phong,khu công nghiệp,Bắc Ninh,,,đang hoạt động\n"
        "Cụm công nghiệp Kiêu Kỵ,CCN,ha-noi,,,founded\n"
    )
    page = hanoi.post("/authority/register/import", {"text": text})
    problems = [
        " ".join(li.split())
        for li in _between(page.html, '<ul class="problems">', "</ul>").split("<li>")[1:]
    ]
    assert [p.split(":")[0] for p in problems] == ["Line 3", "Line 3", "Line 4", "Line 5"]
    assert "khu công nghiệp (park) or cụm công nghiệp (cluster)" in problems[0]
    assert "hectares" in problems[1]
    assert "only for your own provinces" in problems[2]
    assert "already on line 2" in problems[3]
    with AppState.of(app).database.session() as session:
        names = set(session.scalars(select(Cluster.name)))
    assert "Cụm công nghiệp Kiêu Kỵ" not in names


def test_a_good_import_adds_updates_and_the_portal_picks_from_it(app: Flask, world: World) -> None:
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    text = (
        "tên,loại,tỉnh,xã,diện tích,trạng thái\n"
        'Cụm công nghiệp Kiêu Kỵ,cụm công nghiệp,Thành phố Hà Nội,Xã Kiêu Kỵ,"12,5",đang xây dựng\n'
        "Cụm công nghiệp Phú Thị,CCN,ha-noi,Xã Phú Thị,20,đang hoạt động\n"
    )
    page = hanoi.post("/authority/register/import", {"text": text})
    assert page.flashes == ["Imported: 1 new, 1 updated."], page.flashes
    rows = read_csv(hanoi.client.get("/authority/register.csv").get_data())
    kieu_ky = next(r for r in rows if r["name"] == "Cụm công nghiệp Kiêu Kỵ")
    assert kieu_ky == {
        "name": "Cụm công nghiệp Kiêu Kỵ", "kind": "cluster", "province": "ha-noi",
        "commune": "Xã Kiêu Kỵ", "area_ha": "12.5", "status": "building",
    }  # fmt: skip
    # the exported register imports back unchanged
    again = hanoi.post(
        "/authority/register/import",
        {"text": hanoi.client.get("/authority/register.csv").get_data().decode("utf-8-sig")},
    )
    assert again.flashes == ["Imported: 0 new, 3 updated."]

    business = PortalClient(app.test_client())
    business.signup("Quỳ vàng Kiêu Kỵ", "quyvang@example.vn")
    business.get("/portal/?lang=en")
    with AppState.of(app).database.session() as session:
        cluster_id = session.scalar(
            select(Cluster.id).where(Cluster.name == "Cụm công nghiệp Kiêu Kỵ")
        )
    profile = business.get("/portal/profile")
    assert "Cụm công nghiệp Kiêu Kỵ (Xã Kiêu Kỵ, Thành phố Hà Nội)" in profile.text
    saved = business.post(
        "/portal/profile",
        {"name": "Quỳ vàng Kiêu Kỵ", "province_code": "", "cluster_id": str(cluster_id)},
    )
    assert saved.flashes == ["The profile is saved."], saved.errors
    with AppState.of(app).database.session() as session:
        chosen = session.scalar(select(Business).where(Business.name == "Quỳ vàng Kiêu Kỵ"))
        assert chosen is not None
        assert chosen.cluster_id == cluster_id
        assert chosen.cluster_name == "Cụm công nghiệp Kiêu Kỵ"
        assert chosen.province_code == "ha-noi"
    bad = business.post(
        "/portal/profile",
        {"name": "Quỳ vàng Kiêu Kỵ", "province_code": "ha-noi", "cluster_id": "999999"},
    )
    assert bad.errors == ["Choose a park or cluster from the list."]


def test_the_register_form_keeps_to_the_provinces_of_its_officer(app: Flask, world: World) -> None:
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    form = hanoi.get("/authority/register/new")
    assert "Tỉnh Bắc Ninh" not in form.text
    created = hanoi.post(
        "/authority/register/new",
        {
            "name": "Cụm công nghiệp Phú Túc",
            "kind": "cluster",
            "province": "ha-noi",
            "commune": "Xã Phú Túc",
            "area_ha": "8.2",
            "status": "building",
        },
    )
    assert created.endpoint == "authority.clusters", created.errors
    foreign = hanoi.post(
        "/authority/register/new",
        {"name": "KCN Yên Phong", "kind": "park", "province": "bac-ninh", "status": "operating"},
        form_page="/authority/register/new",
    )
    assert foreign.errors  # not a choice it has
    duplicate = hanoi.post(
        "/authority/register/new",
        {"name": "cụm công nghiệp phú túc", "kind": "cluster", "province": "ha-noi",
         "status": "building"},
    )  # fmt: skip
    assert duplicate.errors == [
        "cụm công nghiệp phú túc is already in the register for this province."
    ]


def _between(text: str, start: str, end: str) -> str:
    head = text.index(start) + len(start)
    return text[head : text.index(end, head)]


# --- command line ---------------------------------------------------------------------------


def test_the_cli_creates_an_authority_and_imports_the_register(
    app: Flask, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = AppState.of(app)
    monkeypatch.setenv("TRACEQR_INSTANCE", str(state.settings.instance_path))
    monkeypatch.setenv("TRACEQR_DATABASE_URL", state.settings.database_url)
    runner = CliRunner()
    created = runner.invoke(
        main,
        [
            "authority", "create", "--email", "sct@hanoi.gov.vn", "--name", "Sở Công Thương",
            "--password", PASSWORD, "--province", "ha-noi",
        ],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    bad = tmp_path / "bad.csv"
    bad.write_text("name,kind,province,status\nCCN A,cụm,Hà Nội,đang hoạt động\n", "utf-8")
    failed = runner.invoke(main, ["clusters", "import", str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:2: kind:" in failed.output
    good = tmp_path / "good.csv"
    good.write_text(REGISTER, "utf-8")
    imported = runner.invoke(main, ["clusters", "import", str(good)])
    assert imported.exit_code == 0, imported.output
    assert '{"created": 3, "updated": 0}' in imported.output
    exported = runner.invoke(main, ["clusters", "export"])
    assert "Khu công nghiệp Quế Võ,park,bac-ninh,Phường Quế Võ,611,operating" in exported.output


def test_renaming_a_cluster_renames_it_for_its_businesses(app: Flask, world: World) -> None:
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    with AppState.of(app).database.session() as session:
        bat_trang = session.scalar(
            select(Cluster.id).where(Cluster.name == "Cụm công nghiệp làng nghề Bát Tràng")
        )
    form = hanoi.get(f"/authority/register/{bat_trang}")
    assert '<option selected value="ha-noi">' in form.html or 'value="ha-noi" selected' in form.html
    assert 'value="16.5"' in form.html
    saved = hanoi.post(
        f"/authority/register/{bat_trang}",
        {
            "name": "Cụm công nghiệp làng nghề gốm sứ Bát Tràng",
            "kind": "cluster",
            "province": "ha-noi",
            "commune": "Xã Bát Tràng",
            "area_ha": "16.5",
            "status": "operating",
        },
    )
    assert saved.endpoint == "authority.clusters", saved.errors
    stamp = world.hanoi_api.verify(world.hanoi_stamps[0])
    assert stamp["status"] == "genuine"
    page = PortalClient(app.test_client()).get(world.hanoi_stamps[0])
    assert "Cụm công nghiệp làng nghề gốm sứ Bát Tràng" in page.text


def test_fakes_of_another_provinces_goods_are_counted_but_not_named(
    app: Flask, world: World
) -> None:
    # a Bắc Ninh product's stamp, copied and sold in Hà Nội
    checked_by_many(world.bacninh_api, world.bacninh_stamps[0], "ha-noi")
    hanoi = official(app, "sct@hanoi.gov.vn", ["ha-noi"])
    spots = read_csv(hanoi.client.get("/authority/hot-spots/provinces.csv").get_data())
    assert int(spots[0]["Suspicious"]) > 0  # where the fakes turn up: in Hà Nội
    for path in (
        "/authority/hot-spots",
        "/authority/evidence?province=ha-noi",
        "/authority/evidence?province=ha-noi&status=suspicious",
        "/authority/evidence/stamps.csv?province=ha-noi",
    ):
        text = hanoi.client.get(path).get_data().decode("utf-8-sig")
        for foreign in ("Quế Võ", "Bo mạch", "Điện tử"):
            assert foreign not in text, (path, foreign)
    evidence = hanoi.get("/authority/evidence?province=ha-noi&status=suspicious")
    assert "concern goods of producers outside your provinces" in evidence.text
