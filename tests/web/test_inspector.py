"""The inspector workspace: look-up, dossiers, flags, cases and signed case files."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from flask import Flask
from PIL import Image
from sqlalchemy import select

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from traceqr.cli import main
from traceqr.domain.documents import DocumentError, verify_document
from traceqr.domain.keys import KeyRing
from traceqr.domain.qr import QUIET_ZONE_MODULES, qr_matrix
from traceqr.models import Scan, Stamp
from traceqr.services.case_pdf import attached_case_file
from traceqr.services.officials import create_official
from traceqr.state import AppState, utcnow

PASSWORD = "inspector password 1"


@pytest.fixture
def inspector(app: Flask) -> PortalClient:
    state = AppState.of(app)
    with state.database.session() as session:
        create_official(
            session,
            email="thanh.tra@qltt.gov.vn",
            name="Trần Văn Kiểm",
            role="inspector",
            password=PASSWORD,
            provinces=[],
            now=utcnow(),
        )
    client = PortalClient(app.test_client())
    page = client.post("/inspect/login", {"email": "thanh.tra@qltt.gov.vn", "password": PASSWORD})
    assert page.endpoint == "inspector.home", page.text[:200]
    return client


@pytest.fixture
def stamps(api: Api) -> list[str]:
    batch = api.batch(lot="BT-2611-A")
    api.issue(batch["id"], 3)
    return api.stamp_urls(batch["id"])


def test_inspectors_and_businesses_stay_in_their_own_areas(
    app: Flask, inspector: PortalClient
) -> None:
    assert inspector.get("/portal/").endpoint == "portal.login"
    business = PortalClient(app.test_client())
    business.signup("Cơ sở A", "a@example.vn")
    assert business.get("/inspect/").endpoint == "inspector.login"
    wrong = PortalClient(app.test_client()).post(
        "/inspect/login", {"email": "a@example.vn", "password": "correct horse battery"}
    )
    assert wrong.errors == ["E-mail hoặc mật khẩu không đúng."]


def test_the_dossier_shows_the_stamp_without_counting_a_check(
    app: Flask, inspector: PortalClient, api: Api, stamps: list[str]
) -> None:
    for _ in range(2):
        api.verify(stamps[0], province="ha-noi")
    page = inspector.get("/inspect/stamp", query_string={"code": stamps[0]})
    assert 'data-status="genuine"' in page.html
    assert "BT-2611-A" in page.text and "Thành phố Hà Nội" in page.text
    # Who vouched for the producer (the tests' operator vouched for this one).
    assert 'data-verification="verified"' in page.html and "Nhà vận hành TraceQR" in page.text
    with AppState.of(app).database.session() as session:
        assert session.scalar(select(Stamp.scan_count).where(Stamp.seq == 1)) == 2
        assert len(session.scalars(select(Scan)).all()) == 2
    fake = inspector.get("/inspect/stamp", query_string={"code": "not a stamp"})
    assert 'data-status="invalid"' in fake.html


def photo_of(urls: list[str]) -> bytes:
    """A 'shelf photo': several stamps side by side, like a phone would take."""
    tiles = []
    for url in urls:
        modules = np.pad(qr_matrix(url, "Q").modules, QUIET_ZONE_MODULES)
        tiles.append(np.kron(np.where(modules, 0, 255), np.ones((6, 6))).astype(np.uint8))
    out = io.BytesIO()
    Image.fromarray(np.hstack(tiles)).save(out, format="JPEG", quality=92)
    return out.getvalue()


def test_a_photo_of_several_stamps_is_decoded_on_the_server(
    inspector: PortalClient, stamps: list[str]
) -> None:
    forged = stamps[2][:-5] + ("A" if stamps[2][-5] != "A" else "B") + stamps[2][-4:]
    page = inspector.post(
        "/inspect/photo",
        {"photo": (io.BytesIO(photo_of([stamps[0], stamps[1], forged])), "shelf.jpg")},
        form_page="/inspect/",
        content_type="multipart/form-data",
    )
    assert sorted(re.findall(r'<tr data-status="(\w+)"', page.html)) == [
        "genuine",
        "genuine",
        "invalid",
    ]
    bad = inspector.post(
        "/inspect/photo",
        {"photo": (io.BytesIO(b"not an image"), "x.jpg")},
        form_page="/inspect/",
        content_type="multipart/form-data",
    )
    assert bad.flashes == ["Tệp không phải là ảnh TraceQR đọc được."]


def test_flags_warn_shoppers_until_lifted(
    inspector: PortalClient, api: Api, stamps: list[str]
) -> None:
    dossier = inspector.get("/inspect/stamp", query_string={"code": stamps[0]})
    stamp_id = re.search(r"/inspect/stamps/(\d+)/flag", dossier.html).group(1)  # type: ignore[union-attr]
    page = inspector.post(
        f"/inspect/stamps/{stamp_id}/flag",
        {"reason": "Tem giả bán ở chợ Đồng Xuân", "code": stamps[0]},
        form_page=f"/inspect/stamp?code={stamps[0]}",
    )
    assert "đánh dấu" in page.flashes[0]
    verdict = api.verify(stamps[0])
    assert (verdict["status"], verdict["reasons"]) == ("suspicious", ["flagged_by_inspector"])
    assert api.verify(stamps[1])["status"] == "genuine"  # only that stamp
    flag_id = re.search(r"/inspect/flags/(\d+)/lift", page.html).group(1)  # type: ignore[union-attr]
    inspector.post(
        f"/inspect/flags/{flag_id}/lift",
        {"code": stamps[0]},
        form_page=f"/inspect/stamp?code={stamps[0]}",
    )
    assert api.verify(stamps[0])["status"] == "genuine"
    batch_id = re.search(r"/inspect/batches/(\d+)/flag", page.html).group(1)  # type: ignore[union-attr]
    inspector.post(
        f"/inspect/batches/{batch_id}/flag",
        {"reason": "Lô nghi ngờ", "code": stamps[0]},
        form_page=f"/inspect/stamp?code={stamps[0]}",
    )
    assert {api.verify(url)["status"] for url in stamps} == {"suspicious"}


def test_a_case_file_is_signed_and_holds_as_evidence(
    app: Flask, inspector: PortalClient, api: Api, stamps: list[str], tmp_path: Any
) -> None:
    api.verify(stamps[0], province="ho-chi-minh")
    page = inspector.post("/inspect/cases", {"title": "Tem giả gốm Bát Tràng tại chợ"})
    case_id = int(re.search(r"/inspect/cases/(\d+)/notes", page.html).group(1))  # type: ignore[union-attr]
    inspector.post(
        f"/inspect/cases/{case_id}/stamps",
        {"code": stamps[0]},
        form_page=f"/inspect/cases/{case_id}",
    )
    photo = io.BytesIO()
    Image.new("RGB", (30, 20), (200, 30, 30)).save(photo, format="PNG")
    inspector.post(
        f"/inspect/cases/{case_id}/notes",
        {
            "text": "Thu giữ 40 sản phẩm tại ki-ốt số 12",
            "photo": (io.BytesIO(photo.getvalue()), "kiot.png"),
        },
        form_page=f"/inspect/cases/{case_id}",
        content_type="multipart/form-data",
    )
    page = inspector.post(
        f"/inspect/cases/{case_id}/close",
        {"outcome": "Lập biên bản"},
        form_page=f"/inspect/cases/{case_id}",
    )
    assert "Lập biên bản" in page.text

    response = inspector.client.get(f"/inspect/cases/{case_id}/case-file.json")
    document = json.loads(response.data)
    assert document["case"]["title"] == "Tem giả gốm Bát Tràng tại chợ"
    assert document["stamps"][0]["scans"][0]["province"] == "ho-chi-minh"
    assert document["notes"][0]["text"] == "Thu giữ 40 sản phẩm tại ki-ốt số 12"
    jwks = inspector.client.get("/.well-known/jwks.json").get_json(force=True)
    ring = KeyRing.from_jwks(jwks, role="service")
    assert verify_document(document, ring) == document["signature"]["kid"]
    tampered = json.loads(json.dumps(document))
    tampered["notes"][0]["text"] = "Không thu giữ gì"
    with pytest.raises(DocumentError, match="changed"):
        verify_document(tampered, ring)
    # Stamp keys cannot vouch for documents, nor the service key for stamps.
    assert document["signature"]["kid"] not in {k.kid.hex() for k in KeyRing.from_jwks(jwks)}

    pdf = inspector.client.get(f"/inspect/cases/{case_id}/case-file.pdf").data
    assert pdf.startswith(b"%PDF")
    attached = json.loads(attached_case_file(pdf))  # type: ignore[arg-type]
    assert verify_document(attached, ring)
    (tmp_path / "case.pdf").write_bytes(pdf)
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    (tmp_path / "bad.json").write_text(json.dumps(tampered, ensure_ascii=False))
    runner = CliRunner()
    ok = runner.invoke(
        main, ["verify-document", str(tmp_path / "case.pdf"), "--keys", str(tmp_path / "jwks.json")]
    )
    assert ok.exit_code == 0 and "VALID" in ok.output
    bad = runner.invoke(
        main, ["verify-document", str(tmp_path / "bad.json"), "--keys", str(tmp_path / "jwks.json")]
    )
    assert bad.exit_code == 1 and "NOT VALID" in bad.output


def test_reports_reach_inspectors_and_join_cases(
    app: Flask, inspector: PortalClient, stamps: list[str]
) -> None:
    shopper = app.test_client()
    form = shopper.get("/report", query_string={"code": stamps[1]}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    shopper.post(
        "/report",
        data={
            "csrf_token": token,
            "code": stamps[1],
            "shop_name": "Ki-ốt 12",
            "province_code": "ha-noi",
        },
    )
    page = inspector.post("/inspect/cases", {"title": "Ki-ốt 12"})
    case_id = int(re.search(r"/inspect/cases/(\d+)/notes", page.html).group(1))  # type: ignore[union-attr]
    page = inspector.get("/inspect/reports")
    assert "Ki-ốt 12" in page.text
    report_id = re.search(r'data-report="(\d+)"', page.html).group(1)  # type: ignore[union-attr]
    inspector.post(f"/inspect/cases/{case_id}/reports/{report_id}", form_page="/inspect/reports")
    document = json.loads(inspector.client.get(f"/inspect/cases/{case_id}/case-file.json").data)
    assert [r["shop_name"] for r in document["reports"]] == ["Ki-ốt 12"]
    assert len(document["stamps"]) == 1  # the reported stamp joined the case


def test_the_cli_creates_inspectors(database_url: str, tmp_path: Any) -> None:
    from tests.conftest import empty_database

    env = {"TRACEQR_INSTANCE": str(tmp_path / "i"), "TRACEQR_DATABASE_URL": database_url}
    try:
        result = CliRunner().invoke(
            main,
            [
                "inspector",
                "create",
                "--email",
                "qltt@ha-noi.gov.vn",
                "--name",
                "Đội QLTT số 1",
                "--password",
                PASSWORD,
                "--province",
                "ha-noi",
            ],
            env=env,
        )
        assert result.exit_code == 0, result.output
        again = CliRunner().invoke(
            main, ["inspector", "create", "--email", "QLTT@ha-noi.gov.vn", "--name", "x"], env=env
        )
        assert again.exit_code == 1 and "already has an account" in again.stderr
        bad = CliRunner().invoke(
            main,
            ["inspector", "create", "--email", "x@y.vn", "--name", "x", "--province", "mars"],
            env=env,
        )
        assert bad.exit_code == 1
    finally:
        empty_database(database_url)
