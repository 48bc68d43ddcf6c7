"""Small abuses that each cost a 500, a leak or a lot of memory: deep JSON, a line break
in ``next=``, a decompression bomb as a report photo, a report refused after its photo was
stored, files others could read, formulas in CSV exports, line separators in one-line
names, case files without their photos."""

from __future__ import annotations

import csv
import io
import logging
import socket
import stat
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select

from tests.conftest import PUBLIC_URL, Api
from tests.web.portal_client import PortalClient
from traceqr.cli import main
from traceqr.domain.clusters import parse_register_csv
from traceqr.errors import ValidationError
from traceqr.models import Report
from traceqr.services.uploads import private_folder, store_image
from traceqr.state import AppState, utcnow

PASSWORD = "correct horse battery"
FAKE = PUBLIC_URL + "/S/" + "A" * 127


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG of ``width``×``height`` black RGBA pixels: a few hundred KB on the wire,
    ``width * height * 4`` bytes once decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * 4)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 20, 30)).save(out, format="JPEG")
    return out.getvalue()


def report(client: FlaskClient, **fields: Any) -> Any:
    shopper = PortalClient(client)
    return shopper.post(
        f"/report?code={FAKE}",
        {"code": FAKE, **fields},
        content_type="multipart/form-data",
    )


def private_files(app: Flask) -> list[Path]:
    folder = private_folder(AppState.of(app).settings.uploads_path)
    return sorted(folder.iterdir()) if folder.exists() else []


def reports(app: Flask) -> int:
    with AppState.of(app).database.session() as session:
        return session.scalar(select(func.count()).select_from(Report)) or 0


# --- the API's JSON ---------------------------------------------------------------------------


def test_deeply_nested_json_is_refused_with_a_400_not_a_500(api: Api) -> None:
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.client.post(
        "/api/v1/products",
        data=body,
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.get_data(as_text=True)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])  # U+0085, VT, FF: refused already
def test_a_one_line_name_refuses_line_and_paragraph_separators(api: Api, separator: str) -> None:
    response = api.post("/products", {"name": f"Nước mắm{separator}Phú Quốc"})
    assert response.status_code == 400
    assert f"U+{ord(separator):04X}" in response.get_data(as_text=True)


def test_a_shoppers_note_keeps_a_paragraph_separator_as_a_line_break(
    app: Flask, client: FlaskClient
) -> None:
    page = report(client, note="Tem mờ\u2029Giá rẻ bất thường")
    assert page.status == 200 and not page.errors, page.errors
    with AppState.of(app).database.session() as session:
        assert session.scalars(select(Report.note)).one() == "Tem mờ\nGiá rẻ bất thường"


# --- next= ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/portal/products\r\nSet-Cookie: session=stolen", "/portal/\nx", "/portal/\x7fx"],
)
def test_a_next_with_a_control_character_falls_back_to_the_dashboard(
    client: FlaskClient, make_business: Any, target: str
) -> None:
    from traceqr.models import User

    made = make_business(password=PASSWORD)
    with AppState.of(client.application).database.session() as session:
        email = session.scalars(select(User.email).where(User.id == made.owner.id)).one()
    portal = PortalClient(client)
    token = portal.token("/portal/login")
    response = client.post(
        "/portal/login",
        query_string={"next": target},
        data={"csrf_token": token, "email": email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/portal/")
    assert "Set-Cookie: session=stolen" not in str(response.headers)


# --- report photos ----------------------------------------------------------------------------


def test_a_png_bomb_is_refused_from_its_header_before_it_is_decoded(tmp_path: Path) -> None:
    bomb = png_bomb(6300, 6300)  # under Pillow's own limit of 89 million pixels
    assert len(bomb) < 200_000
    store_image(jpeg(), tmp_path / "warm-up", field="photo", max_bytes=1024 * 1024)  # plugins
    started = time.perf_counter()
    with pytest.raises(ValidationError, match="too many pixels"):
        store_image(bomb, tmp_path, field="photo", max_bytes=5 * 1024 * 1024)
    assert time.perf_counter() - started < 0.5  # decoding it took seconds and 510 MB
    assert [p.name for p in tmp_path.iterdir()] == ["warm-up"]


def test_a_png_bomb_as_a_report_photo_is_refused_and_nothing_is_kept(
    app: Flask, client: FlaskClient
) -> None:
    page = report(
        client,
        shop_name="Chợ Đồng Xuân",
        photo=(io.BytesIO(png_bomb(6300, 6300)), "shop.png"),
    )
    assert any("điểm ảnh" in error or "pixels" in error for error in page.errors), page.errors
    assert reports(app) == 0 and private_files(app) == []


def test_a_refused_report_leaves_no_photo_behind(app: Flask, client: FlaskClient) -> None:
    page = report(
        client,
        shop_name="Chợ\u200bĐồng Xuân",  # an invisible character: the report is refused
        photo=(io.BytesIO(jpeg()), "shop.jpg"),
    )
    assert page.errors, page.text[:300]
    assert reports(app) == 0
    assert private_files(app) == []  # no orphan file, to be backed up for ever


def test_report_photos_are_readable_by_the_service_only(app: Flask, client: FlaskClient) -> None:
    page = report(client, shop_name="Chợ Đồng Xuân", photo=(io.BytesIO(jpeg()), "shop.jpg"))
    assert page.status == 200 and not page.errors, page.errors
    (photo,) = private_files(app)
    assert stat.S_IMODE(photo.stat().st_mode) == 0o600
    assert stat.S_IMODE(photo.parent.stat().st_mode) == 0o700


# --- the SQLite file ----------------------------------------------------------------------------


def test_the_sqlite_database_made_by_init_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "traceqr.sqlite3"
    env = {
        "TRACEQR_INSTANCE": str(tmp_path / "instance"),
        "TRACEQR_DATABASE_URL": f"sqlite:///{path}",
        "TRACEQR_PUBLIC_URL": PUBLIC_URL,
    }
    result = CliRunner().invoke(main, ["init"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    made = [p for p in tmp_path.iterdir() if p.name.startswith("traceqr.sqlite3")]
    assert path in made
    for each in made:
        assert stat.S_IMODE(each.stat().st_mode) & 0o077 == 0, each.name


# --- CSV exports ------------------------------------------------------------------------------


def test_the_stamps_csv_neutralises_a_formula_and_keeps_the_qr_text(api: Api) -> None:
    product = api.product(name='=HYPERLINK("http://attacker.example","Xem")')
    batch = api.batch(product["id"], lot="-1+1")
    api.issue(batch["id"], 2)
    rows = list(csv.DictReader(io.StringIO(api.get(f"/batches/{batch['id']}/stamps.csv").text)))
    assert rows and all(row["product"] == "'" + product["name"] for row in rows)
    assert all(row["lot"] == "'-1+1" for row in rows)
    # The url column is exactly the text in the QR: a link is not a formula.
    urls = [row["url"] for row in rows]
    assert all(url.startswith(PUBLIC_URL.upper() + "/S/") for url in urls)
    assert [api.verify(url)["status"] for url in urls] == ["genuine", "genuine"]


def test_the_register_export_is_formula_safe_and_imports_back_as_it_was(app: Flask) -> None:
    from tests.web.security_world import build_world
    from traceqr.services.clusters import save_cluster

    world = build_world(app)
    name = '=HYPERLINK("http://attacker.example","Cụm công nghiệp")'
    with AppState.of(app).database.session() as session:
        values = {"name": name, "kind": "cluster", "province": "ha-noi", "status": "operating"}
        save_cluster(session, values, utcnow())
    text = world.authority.client.get("/authority/register.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert ["'" + name, "cluster", "ha-noi"] in [row[:3] for row in rows]
    entries, problems = parse_register_csv(text)
    assert problems == [] and name in [entry.name for _, entry in entries]


# --- case files -------------------------------------------------------------------------------


def test_a_case_file_pdf_shows_its_private_photos(app: Flask) -> None:
    from tests.web.security_world import build_world
    from traceqr.models import CaseNote

    world = build_world(app)
    with AppState.of(app).database.session() as session:
        note = session.scalars(select(CaseNote)).one()
    assert note.photo
    pdf = world.inspector.client.get(f"/inspect/cases/{note.case_id}/case-file.pdf").data
    images = sum(len(page.images) for page in PdfReader(io.BytesIO(pdf)).pages)
    assert images >= 1


# --- sign-up and forgotten passwords: nobody learns which addresses have accounts ------------


def signup_form(email: str) -> dict[str, str]:
    return {
        "business_name": "Cơ sở mới",
        "name": "Người đăng ký",
        "email": email,
        "password": PASSWORD,
        "confirm": PASSWORD,
    }


def test_a_sign_up_answers_alike_whether_or_not_the_address_has_an_account(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    from traceqr.mail import wait_for_mail
    from traceqr.models import Business

    owner = PortalClient(app.test_client())
    assert owner.signup("Gốm sứ Minh An", "owner@minhan.vn").endpoint == "portal.profile"
    pages, took = [], []
    with caplog.at_level(logging.WARNING, logger="traceqr.mail"):
        for email in ("owner@minhan.vn", "new@example.vn"):
            stranger = PortalClient(app.test_client())
            stranger.token("/portal/signup")
            started = time.perf_counter()
            pages.append(stranger.post("/portal/signup", signup_form(email)))
            took.append(time.perf_counter() - started)
        wait_for_mail()
    taken, new = pages
    assert taken.endpoint == new.endpoint == "portal.signup_sent"
    assert taken.html == new.html and not taken.errors
    assert took[0] > took[1] / 3  # a password is hashed either way
    with AppState.of(app).database.session() as session:
        assert session.scalar(select(func.count()).select_from(Business)) == 2
    # The owner of the taken address is told, with a way back in; the new owner is welcomed.
    # In the sign-up page's language (Vietnamese unless the browser asks otherwise).
    assert (
        "E-mail to owner@minhan.vn: TraceQR: có người thử đăng ký bằng địa chỉ của bạn"
        in caplog.text
    )
    assert "https://traceqr.example.vn/portal/forgot" in caplog.text
    assert "E-mail to new@example.vn: TraceQR: tài khoản của bạn đã sẵn sàng" in caplog.text
    # The owner's account is unchanged; the new one signs in, and lands on its profile.
    assert PortalClient(app.test_client()).login("owner@minhan.vn").endpoint == "portal.dashboard"
    welcome = PortalClient(app.test_client())
    assert welcome.login("new@example.vn").endpoint == "portal.dashboard"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_reset_asked_while_the_mail_server_is_down_is_answered_and_logged(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from traceqr.mail import wait_for_mail

    app = make_app(smtp_url=f"smtp://127.0.0.1:{closed_port()}/?starttls=0")
    PortalClient(app.test_client()).signup("Gốm sứ Minh An", "owner@minhan.vn")
    stranger = PortalClient(app.test_client())
    with caplog.at_level(logging.WARNING, logger="traceqr.mail"):
        page = stranger.post("/portal/forgot", {"email": "owner@minhan.vn"})
        wait_for_mail()
    assert page.status == 200 and page.endpoint == "portal.login", page.text[:200]
    assert "E-mail to owner@minhan.vn could not be sent" in caplog.text


def test_a_reset_answers_at_once_even_when_the_mail_server_is_slow(make_app: Any) -> None:
    from traceqr.mail import wait_for_mail

    silent = socket.socket()  # accepts the connection and never says hello
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    try:
        app = make_app(smtp_url=f"smtp://127.0.0.1:{port}/?starttls=0")
        PortalClient(app.test_client()).signup("Gốm sứ Minh An", "owner@minhan.vn")
        timings = {}
        for email in ("owner@minhan.vn", "nobody@minhan.vn"):
            stranger = PortalClient(app.test_client())
            stranger.token("/portal/forgot")
            started = time.perf_counter()
            page = stranger.post("/portal/forgot", {"email": email})
            timings[email] = time.perf_counter() - started
            assert page.endpoint == "portal.login"
        assert max(timings.values()) < 1.5, timings
    finally:
        silent.close()  # the mail thread's connection ends
        wait_for_mail()
