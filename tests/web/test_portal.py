"""The business portal, used as a person would: forms, CSRF tokens, redirects, languages."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from traceqr.mail import wait_for_mail
from traceqr.models import (
    Batch,
    Business,
    Product,
    ProductImage,
    Stamp,
    User,
)
from traceqr.services import identity
from traceqr.services.identity import Reviewer
from traceqr.state import AppState

PASSWORD = "correct horse battery"


@pytest.fixture
def owner(app: Flask) -> PortalClient:
    portal = PortalClient(app.test_client())
    page = portal.signup("Gốm sứ Minh An", "owner@minhan.vn")
    assert page.endpoint == "portal.profile", page.text[:300]
    return portal


def image_bytes(
    kind: str = "JPEG", size: tuple[int, int] = (64, 48), exif_gps: bool = False
) -> bytes:
    image = Image.new("RGB", size, (180, 90, 40))
    out = io.BytesIO()
    if exif_gps:
        exif = Image.Exif()
        exif[0x010F] = "CameraMaker"  # Make
        exif[0x8825] = {1: "N", 2: (21.0, 1.0, 0.0)}  # GPS info
        image.save(out, format=kind, exif=exif)
    else:
        image.save(out, format=kind)
    return out.getvalue()


def make_product(portal: PortalClient, **fields: str) -> int:
    page = portal.post(
        "/portal/products/new", {"name": "Bình gốm men rạn", "origin": "Việt Nam", **fields}
    )
    assert page.endpoint == "portal.product", page.errors
    return int(re.search(r"/portal/products/(\d+)/edit", page.html).group(1))  # type: ignore[union-attr]


def make_batch(portal: PortalClient, product_id: int, **fields: str) -> int:
    page = portal.post(f"/portal/products/{product_id}/batches/new", {"lot": "BT-2611-A", **fields})
    assert page.endpoint == "portal.batch", page.errors
    return int(re.search(r"/portal/batches/(\d+)/edit", page.html).group(1))  # type: ignore[union-attr]


# --- signing up and in ----------------------------------------------------------------------


def test_sign_up_sign_out_sign_in(app: Flask, owner: PortalClient) -> None:
    assert owner.get("/portal/").endpoint == "portal.dashboard"
    page = owner.logout()
    assert page.endpoint == "portal.login"
    assert owner.get("/portal/").endpoint == "portal.login"  # signed out for real
    page = owner.login("OWNER@minhan.vn")
    assert page.endpoint == "portal.dashboard"
    with AppState.of(app).database.session() as session:
        user = session.scalars(select(User)).one()
        assert user.password_hash.startswith("$argon2id$")
        assert user.last_login_at is not None


def test_a_wrong_password_is_said_next_to_the_field(app: Flask, owner: PortalClient) -> None:
    owner.logout()
    page = owner.login("owner@minhan.vn", "wrong password!")
    assert page.endpoint == "portal.login"
    assert page.errors == ["E-mail hoặc mật khẩu không đúng."]
    assert 'value="owner@minhan.vn"' in page.html  # what was typed is kept


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"business_name": ""}, "Mục này là bắt buộc."),
        ({"password": "short", "confirm": "short"}, "Mật khẩu cần ít nhất 10 ký tự."),
        ({"confirm": "something else"}, "Hai mật khẩu không giống nhau."),
        ({"business_name": "x" * 201}, "Không được dài quá 200 ký tự."),
    ],
)
def test_sign_up_errors_stay_next_to_their_field_and_create_nothing(
    app: Flask, owner: PortalClient, fields: dict[str, str], error: str
) -> None:
    other = PortalClient(app.test_client())
    data = {
        "business_name": "Cơ sở khác",
        "email": "other@example.vn",
        "password": PASSWORD,
        "confirm": PASSWORD,
        **fields,
    }
    page = other.post("/portal/signup", data)
    assert page.endpoint == "portal.signup"
    assert any(error.lower() in message.lower() for message in page.errors), page.errors
    with AppState.of(app).database.session() as session:
        assert session.scalar(select(func.count()).select_from(Business)) == 1


def test_forms_without_a_csrf_token_are_refused(app: Flask, owner: PortalClient) -> None:
    response = owner.client.post("/portal/products/new", data={"name": "no token"})
    assert response.status_code == 400
    with AppState.of(app).database.session() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 0


def test_a_forgotten_password_is_reset_through_a_link_in_the_log(
    app: Flask, owner: PortalClient, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = PortalClient(app.test_client())
    with caplog.at_level(logging.WARNING, logger="traceqr.mail"):
        page = stranger.post("/portal/forgot", {"email": "owner@minhan.vn"})
        unknown = stranger.post("/portal/forgot", {"email": "nobody@minhan.vn"})
        wait_for_mail()  # sent after the answer, by the mail thread
    assert page.flashes == unknown.flashes  # no hint whether the address has an account
    links = re.findall(r"https://traceqr\.example\.vn/portal/reset/\S+", caplog.text)
    assert len(links) == 1
    path = links[0].removeprefix("https://traceqr.example.vn")
    page = stranger.post(
        path, {"password": "a brand new password", "confirm": "a brand new password"}
    )
    assert page.endpoint == "portal.dashboard"
    # The link works once, and sessions from before the reset are over.
    again = stranger.get(path)
    assert again.endpoint == "portal.forgot"
    assert owner.get("/portal/").endpoint == "portal.login"
    assert (
        stranger.logout()
        and stranger.login("owner@minhan.vn", "a brand new password").endpoint == "portal.dashboard"
    )


def test_the_next_parameter_never_leaves_the_portal(app: Flask, owner: PortalClient) -> None:
    owner.logout()
    token = owner.token("/portal/login")
    response = owner.client.post(
        "/portal/login?next=https://evil.example/x",
        data={"csrf_token": token, "email": "owner@minhan.vn", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/portal/"


# --- profile --------------------------------------------------------------------------------


def test_the_profile_is_what_shoppers_see(app: Flask, owner: PortalClient) -> None:
    page = owner.post(
        "/portal/profile",
        {
            "name": "Gốm sứ Minh An",
            "legal_name": "Công ty TNHH Gốm sứ Minh An",
            "tax_code": "0101234565",
            "address_street": "Số 5, đường Giang Cao",
            "address_commune": "Xã Bát Tràng",
            "province_code": "ha-noi",
            "cluster_name": "Cụm công nghiệp làng nghề Bát Tràng",
            "phone": "024 3874 0000",
            "website": "",
        },
        content_type="multipart/form-data",
    )
    assert page.flashes == ["Đã lưu hồ sơ."], page.errors
    with AppState.of(app).database.session() as session:
        business = session.scalars(select(Business)).one()
        assert (business.tax_code, business.province_code) == ("0101234565", "ha-noi")


@pytest.mark.parametrize(
    ("fields", "field_error"),
    [
        ({"tax_code": "0101234567"}, "mã số thuế"),
        ({"province_code": "atlantis"}, "Lựa chọn không hợp lệ."),
        ({"name": ""}, "Mục này là bắt buộc."),
        ({"phone": "x" * 31}, "Không được dài quá 30 ký tự."),
    ],
)
def test_bad_profile_input_changes_nothing(
    app: Flask, owner: PortalClient, fields: dict[str, str], field_error: str
) -> None:
    data = {"name": "Tên mới", "province_code": "", **fields}
    page = owner.post("/portal/profile", data, content_type="multipart/form-data")
    assert any(field_error.lower() in e.lower() for e in page.errors), page.errors
    with AppState.of(app).database.session() as session:
        business = session.scalars(select(Business)).one()
        assert business.name == "Gốm sứ Minh An" and business.tax_code is None


def test_a_logo_is_checked_and_re_encoded(app: Flask, owner: PortalClient) -> None:
    page = owner.post(
        "/portal/profile",
        {
            "name": "Gốm sứ Minh An",
            "province_code": "",
            "logo": (io.BytesIO(b"<svg>not png</svg>"), "logo.png"),
        },
        content_type="multipart/form-data",
    )
    assert any("không phải là ảnh" in e for e in page.errors), page.errors
    page = owner.post(
        "/portal/profile",
        {
            "name": "Gốm sứ Minh An",
            "province_code": "",
            "logo": (io.BytesIO(image_bytes("PNG")), "logo.png"),
        },
        content_type="multipart/form-data",
    )
    assert page.flashes == ["Đã lưu hồ sơ."]
    logo = re.search(r'src="(/media/[0-9a-f]{32}\.(?:png|jpg))"', page.html).group(1)  # type: ignore[union-attr]
    with owner.client.get(logo) as response:
        assert response.status_code == 200
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


# --- products and batches ------------------------------------------------------------------


def test_a_product_with_a_bad_gtin_is_refused_with_the_expected_check_digit(
    owner: PortalClient,
) -> None:
    page = owner.post("/portal/products/new", {"name": "Ấm chén", "gtin": "8934588012229"})
    assert page.endpoint == "portal.new_product"
    assert page.errors == ["Số kiểm tra phải là 8, không phải 9."]
    assert 'value="Ấm chén"' in page.html


def test_product_photos_lose_their_metadata(app: Flask, owner: PortalClient) -> None:
    product_id = make_product(owner)
    original = image_bytes("JPEG", exif_gps=True)
    assert b"CameraMaker" in original
    page = owner.post(
        f"/portal/products/{product_id}/images",
        {"image": (io.BytesIO(original), "photo.jpg")},
        form_page=f"/portal/products/{product_id}",
        content_type="multipart/form-data",
    )
    assert page.flashes == ["Đã thêm ảnh."]
    with AppState.of(app).database.session() as session:
        stored = session.scalars(select(ProductImage)).one()
    with owner.client.get(f"/media/{stored.filename}") as response:
        data = response.data
    assert b"CameraMaker" not in data
    assert Image.open(io.BytesIO(data)).getexif() == {}


def test_the_checklist_names_what_traceability_rules_still_need(owner: PortalClient) -> None:
    product_id = make_product(owner, origin="")
    page = owner.get(f"/portal/products/{product_id}")
    missing = set(re.findall(r'data-missing="(\w+)"', page.html))
    assert missing == {"product_images", "business_address", "origin", "standards"}
    batch_id = make_batch(owner, product_id)
    page = owner.get(f"/portal/batches/{batch_id}")
    missing = set(re.findall(r'data-missing="(\w+)"', page.html))
    assert {"production_date", "stamps_issued", "expiry_date"} <= missing


def test_batch_dates_are_typed_the_vietnamese_way(app: Flask, owner: PortalClient) -> None:
    product_id = make_product(owner)
    batch_id = make_batch(owner, product_id, production_date="02/11/2026", expiry_date="06/2027")
    with AppState.of(app).database.session() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        assert (batch.production_date.isoformat(), batch.expiry_date.isoformat()) == (
            "2026-11-02",
            "2027-06-30",
        )  # type: ignore[union-attr]
    page = owner.get(f"/portal/batches/{batch_id}")
    assert "02/11/2026" in page.text and "30/06/2027" in page.text


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"lot": "Lô 1"}, "chữ không dấu"),
        ({"production_date": "31/02/2026"}, "dd/mm/yyyy"),
        ({"production_date": "02/11/2026", "expiry_date": "01/2026"}, "trước ngày sản xuất"),
        ({"quantity": "many"}, "Không phải là số nguyên hợp lệ."),
    ],
)
def test_bad_batch_input_is_explained_and_saves_nothing(
    app: Flask, owner: PortalClient, fields: dict[str, str], error: str
) -> None:
    product_id = make_product(owner)
    page = owner.post(f"/portal/products/{product_id}/batches/new", {"lot": "L1", **fields})
    assert page.endpoint == "portal.new_batch"
    assert any(error in e for e in page.errors), page.errors
    with AppState.of(app).database.session() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == 0


def test_issue_activate_revoke_and_recall_from_the_batch_page(
    app: Flask, owner: PortalClient
) -> None:
    state = AppState.of(app)
    product_id = make_product(owner)
    batch_id = make_batch(owner, product_id, requires_activation="y")
    page = owner.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": "500"},
        form_page=f"/portal/batches/{batch_id}",
    )
    assert page.endpoint == "portal.job"
    job_id = int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1))  # type: ignore[union-attr]
    state.jobs.wait(job_id)
    assert owner.client.get(f"/portal/jobs/{job_id}.json").get_json()["status"] == "done"
    page = owner.get(f"/portal/batches/{batch_id}")
    assert re.search(r'data-stat="total">500<', page.html)
    assert re.search(r'data-stat="inactive">500<', page.html)  # the batch requires activation

    page = owner.post(
        f"/portal/batches/{batch_id}/activate", form_page=f"/portal/batches/{batch_id}"
    )
    assert page.flashes == ["Đã kích hoạt 500 tem."]
    page = owner.post(
        f"/portal/batches/{batch_id}/revoke",
        {"first_seq": "10", "last_seq": "19", "reason": "Cuộn tem bị rách"},
        form_page=f"/portal/batches/{batch_id}",
    )
    assert page.flashes == ["Đã thu hồi 10 tem."]
    with state.database.session() as session:
        serial = session.scalar(
            select(Stamp.serial).where(Stamp.batch_id == batch_id, Stamp.seq == 1)
        )
    from traceqr.domain.stamp_format import short_code

    page = owner.post(
        f"/portal/batches/{batch_id}/revoke",
        {"code": short_code(serial).lower(), "reason": "Mất"},  # type: ignore[arg-type]
        form_page=f"/portal/batches/{batch_id}",
    )
    assert page.flashes == ["Đã thu hồi 1 tem."]
    page = owner.post(
        f"/portal/batches/{batch_id}/revoke",
        {"first_seq": "400", "last_seq": "600"},
        form_page=f"/portal/batches/{batch_id}",
    )
    assert page.errors == ["Lô này chỉ có các tem từ 1 đến 500."]
    page = owner.post(
        f"/portal/batches/{batch_id}/recall",
        {"reason": ""},
        form_page=f"/portal/batches/{batch_id}",
    )
    assert page.errors == ["Mục này là bắt buộc."]
    page = owner.post(
        f"/portal/batches/{batch_id}/recall",
        {"reason": "Men chứa chì"},
        form_page=f"/portal/batches/{batch_id}",
    )
    assert "thu hồi" in page.flashes[0]
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        assert (batch.stamps_active, batch.stamps_revoked, batch.recall_reason) == (
            500,
            11,
            "Men chứa chì",
        )


def test_hostile_text_is_shown_as_text(owner: PortalClient) -> None:
    product_id = make_product(
        owner, name='<script>alert("x")</script>', description="<img src=x onerror=alert(1)>"
    )
    page = owner.get(f"/portal/products/{product_id}")
    assert "<script>alert" not in page.html and "<img src=x" not in page.html
    assert "&lt;script&gt;" in page.html


# --- staff and keys ------------------------------------------------------------------------


def invite_staff(app: Flask, owner: PortalClient, caplog: pytest.LogCaptureFixture) -> PortalClient:
    with caplog.at_level(logging.WARNING, logger="traceqr.mail"):
        page = owner.post(
            "/portal/team", {"email": "staff@minhan.vn", "name": "Lan", "role": "staff"}
        )
    assert page.flashes == ["Đã gửi lời mời tới staff@minhan.vn."]
    link = re.findall(r"https://traceqr\.example\.vn(/portal/invite/\S+)", caplog.text)[-1]
    staff = PortalClient(app.test_client())
    page = staff.post(link, {"password": "staff password 1", "confirm": "staff password 1"})
    assert page.endpoint == "portal.dashboard"
    return staff


OWNER_ONLY = ["/portal/team", "/portal/keys"]


def test_staff_work_with_products_but_not_with_keys_or_members(
    app: Flask, owner: PortalClient, caplog: pytest.LogCaptureFixture
) -> None:
    staff = invite_staff(app, owner, caplog)
    for path in OWNER_ONLY:
        assert staff.client.get(path).status_code == 403
    owner_token = owner.token("/portal/keys")
    for path in [
        "/portal/keys",
        "/portal/keys/signing/rotate",
        "/portal/team",
        "/portal/team/1/remove",
        "/portal/team/1/role",
    ]:
        response = staff.client.post(
            path, data={"csrf_token": owner_token, "name": "x", "role": "staff", "email": "x@y.vn"}
        )
        assert response.status_code in (400, 403), path  # someone else's token, or forbidden
    token = staff.token("/portal/products/new")
    for path in ["/portal/keys", "/portal/keys/signing/rotate", "/portal/team/1/remove"]:
        response = staff.client.post(path, data={"csrf_token": token, "name": "x"})
        assert response.status_code == 403, path
    assert "Khóa" not in staff.get("/portal/").text.split("Đăng xuất")[0]  # no Keys link
    assert make_product(staff) > 0


def test_an_api_key_is_shown_once_and_revoking_it_locks_the_api(
    app: Flask, owner: PortalClient
) -> None:
    page = owner.post("/portal/keys", {"name": "ERP"})
    key = re.search(r"data-new-key>(tqr_[^<]+)<", page.html).group(1)  # type: ignore[union-attr]
    api = Api(app.test_client(), key)
    assert api.post("/products", {"name": "qua API"}).status_code == 201
    page = owner.get("/portal/keys")
    assert key not in page.html  # never shown again
    key_id = re.search(r"/portal/keys/api/(\d+)/revoke", page.html).group(1)  # type: ignore[union-attr]
    owner.post(f"/portal/keys/api/{key_id}/revoke", form_page="/portal/keys")
    assert api.post("/products", {"name": "sau khi thu hồi"}).status_code == 401


def vouch_for_the_signed_up_business(app: Flask) -> None:
    """The operator verifies the one business that signed up: its stamps become live."""
    state = AppState.of(app)
    with state.database.session() as session:
        business_id = session.scalars(select(Business.id)).one()
        identity.vouch_for(
            session, state.keystore, business_id, Reviewer.operator("tests"), datetime.now(UTC)
        )


def test_rotating_the_signing_key_keeps_old_stamps_genuine(app: Flask, owner: PortalClient) -> None:
    vouch_for_the_signed_up_business(app)
    product_id = make_product(owner)
    batch_id = make_batch(owner, product_id)
    page = owner.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": "2", "active": "y"},
        form_page=f"/portal/batches/{batch_id}",
    )
    AppState.of(app).jobs.wait(int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1)))  # type: ignore[union-attr]
    csv_text = owner.client.get(f"/portal/batches/{batch_id}/stamps.csv").get_data(as_text=True)
    url = csv_text.splitlines()[1].split(",")[3]
    page = owner.post("/portal/keys/signing/rotate", form_page="/portal/keys")
    assert "Khóa ký mới" in page.flashes[0]
    verdict = app.test_client().get("/api/v1/verify", query_string={"q": url}).get_json()
    assert verdict["status"] == "genuine"


# --- languages and numbers -----------------------------------------------------------------


def test_the_portal_keeps_the_chosen_language_and_formats_numbers(
    app: Flask, owner: PortalClient
) -> None:
    page = owner.get("/portal/?lang=en")
    assert page.reader.html_lang == "en" and "Dashboard" in page.text
    assert owner.get("/portal/products").reader.html_lang == "en"  # kept in the session
    page = owner.get("/portal/?lang=vi")
    assert page.reader.html_lang == "vi" and "Bảng điều khiển" in page.text


# --- isolation ----------------------------------------------------------------------------


def test_no_portal_page_shows_another_business_anything(app: Flask, owner: PortalClient) -> None:
    """Business B walks every portal route, filling ids with A's objects: 404 everywhere."""
    product_id = make_product(owner, name="Sản phẩm bí mật của A")
    batch_id = make_batch(owner, product_id)
    page = owner.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": "3", "active": "y"},
        form_page=f"/portal/batches/{batch_id}",
    )
    job_id = int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1))  # type: ignore[union-attr]
    AppState.of(app).jobs.wait(job_id)
    owner.post(
        f"/portal/products/{product_id}/images",
        {"image": (io.BytesIO(image_bytes()), "a.jpg")},
        form_page=f"/portal/products/{product_id}",
        content_type="multipart/form-data",
    )
    owner.post(
        f"/portal/products/{product_id}/certifications",
        {"kind": "OCOP", "grade": "4 sao"},
        form_page=f"/portal/products/{product_id}",
    )
    with AppState.of(app).database.session() as session:
        image_id = session.scalar(select(ProductImage.id))
        owner_id = session.scalar(select(User.id))
    ids = {
        "product_id": product_id,
        "batch_id": batch_id,
        "job_id": job_id,
        "image_id": image_id,
        "certification_id": 1,
        "user_id": owner_id,
        "key_id": 1,
    }

    intruder = PortalClient(app.test_client())
    intruder.signup("Cơ sở B", "b@example.vn")
    token = intruder.token("/portal/products/new")
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("portal.") or not rule.arguments:
            continue
        if rule.arguments - set(ids):
            continue
        path = rule.build(ids, append_unknown=False)[1]  # type: ignore[index]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):  # type: ignore[operator]
            if method == "GET":
                response = intruder.client.get(path)
            else:
                response = intruder.client.post(
                    path, data={"csrf_token": token, "reason": "x", "count": "1", "role": "owner"}
                )
            body = response.get_data(as_text=True)
            assert response.status_code in (403, 404), (method, path, response.status_code)
            assert "Sản phẩm bí mật của A" not in body and "BT-2611-A" not in body
            checked += 1
    assert checked >= 20
    # A's data is untouched.
    with AppState.of(app).database.session() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None and batch.recalled_at is None and batch.stamps_total == 3


@pytest.mark.parametrize(
    ("count", "error"),
    [
        ("0", "Số phải trong khoảng 1 đến 1000000."),
        ("abc", "Không phải là số nguyên hợp lệ."),
        ("", "Mục này là bắt buộc."),
        ("2000000", "Số phải trong khoảng 1 đến 1000000."),
    ],
)
def test_a_bad_stamp_count_issues_nothing(
    app: Flask, owner: PortalClient, count: str, error: str
) -> None:
    batch_id = make_batch(owner, make_product(owner))
    page = owner.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": count, "active": "y"},
        form_page=f"/portal/batches/{batch_id}",
    )
    assert page.endpoint in ("portal.batch", "portal.issue")
    assert len(page.errors) == 1 and error in page.errors[0], page.errors
    with AppState.of(app).database.session() as session:
        assert session.scalar(select(func.count()).select_from(Stamp)) == 0


def test_revoking_another_business_stamp_code_is_refused_next_to_the_field(
    app: Flask, owner: PortalClient, api: Api
) -> None:
    batch = api.batch()
    api.issue(batch["id"], 1)
    foreign = api.verify(api.stamp_urls(batch["id"])[0])["stamp"]["short_code"]
    batch_id = make_batch(owner, make_product(owner))
    page = owner.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": "1", "active": "y"},
        form_page=f"/portal/batches/{batch_id}",
    )
    AppState.of(app).jobs.wait(int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1)))  # type: ignore[union-attr]
    page = owner.post(
        f"/portal/batches/{batch_id}/revoke",
        {"code": foreign},
        form_page=f"/portal/batches/{batch_id}",
    )
    assert page.errors == ["Không có tem nào của lô này mang mã này."]
    assert api.verify(api.stamp_urls(batch["id"])[0])["status"] == "genuine"


@pytest.mark.parametrize(
    ("path", "data", "error"),
    [
        (
            "/portal/team",
            {"email": "not-an-email", "role": "staff"},
            "Đây không phải là địa chỉ e-mail.",
        ),
        (
            "/portal/team",
            {"email": "owner@minhan.vn", "role": "staff"},
            "owner@minhan.vn đã có tài khoản.",
        ),
        ("/portal/team", {"email": "x@y.vn", "role": "admin"}, "Lựa chọn không hợp lệ."),
        ("/portal/keys", {"name": ""}, "Mục này là bắt buộc."),
        (
            "/portal/account/password",
            {
                "current_password": "wrong one!",
                "password": "new password 1",
                "confirm": "new password 1",
            },
            "Mật khẩu hiện tại không đúng.",
        ),
    ],
)
def test_account_forms_explain_bad_input(
    owner: PortalClient, path: str, data: dict[str, str], error: str
) -> None:
    page = owner.post(path, data)
    assert error in page.errors, page.errors


def test_a_certificate_with_impossible_dates_is_refused(owner: PortalClient) -> None:
    product_id = make_product(owner)
    page = owner.post(
        f"/portal/products/{product_id}/certifications",
        {"kind": "VietGAP", "valid_from": "01/06/2027", "valid_until": "01/2026"},
        form_page=f"/portal/products/{product_id}",
    )
    assert page.errors == ["Ngày hết hiệu lực không được trước ngày bắt đầu."]
    page = owner.post(
        f"/portal/products/{product_id}/certifications",
        {"kind": "OCOP", "grade": "4 sao", "valid_until": "12/2028"},
        form_page=f"/portal/products/{product_id}",
    )
    assert page.flashes == ["Đã thêm chứng nhận."]
    assert "31/12/2028" in page.text


def test_the_sheet_designer_explains_a_stamp_too_small(app: Flask, owner: PortalClient) -> None:
    batch_id = make_batch(owner, make_product(owner))
    page = owner.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": "3", "active": "y"},
        form_page=f"/portal/batches/{batch_id}",
    )
    AppState.of(app).jobs.wait(int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1)))  # type: ignore[union-attr]
    page = owner.get(f"/portal/batches/{batch_id}/sheet?stamp_mm=15&ecc=H")
    assert any("stamp_mm" in e or "mm" in e for e in page.errors), page.errors
    assert 'id="sheet-preview"' not in page.html
    page = owner.get(
        f"/portal/batches/{batch_id}/sheet?page=roll&roll_width_mm=40&stamp_mm=25&labels_across=1"
    )
    assert page.errors == []
    response = owner.client.get(
        f"/portal/batches/{batch_id}/sheet/preview.png?page=roll&roll_width_mm=40&stamp_mm=25"
    )
    assert response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).size[0] > 100
    pdf = owner.client.get(
        f"/portal/batches/{batch_id}/sheet.pdf?page=roll&roll_width_mm=40&stamp_mm=25"
    ).data
    from tests.sheet_reading import read_sheet
    from traceqr.domain.sheet import SheetLayout

    cells = read_sheet(pdf, SheetLayout.roll(40, stamp_mm=25))
    assert len(cells) == 3 and all(len(c) == 1 for c in cells)


def test_copy_detection_thresholds_are_set_by_the_owner_and_used(
    app: Flask, owner: PortalClient
) -> None:
    page = owner.post(
        "/portal/settings/detection",
        {
            "max_scans": "5",
            "max_speed_kmh": "300",
            "max_clients": "10",
            "after_claim_allowance": "2",
        },
    )
    assert page.errors == ["Số phải trong khoảng 9 đến 10000."]  # honest buyers check again
    page = owner.post(
        "/portal/settings/detection",
        {
            "max_scans": "12",
            "max_speed_kmh": "300",
            "max_clients": "50",
            "after_claim_allowance": "2",
        },
    )
    assert page.flashes == ["Đã lưu cài đặt phát hiện tem sao chép."]
    vouch_for_the_signed_up_business(app)
    batch_id = make_batch(owner, make_product(owner))
    page = owner.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": "1", "active": "y"},
        form_page=f"/portal/batches/{batch_id}",
    )
    AppState.of(app).jobs.wait(int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1)))  # type: ignore[union-attr]
    url = (
        owner.client.get(f"/portal/batches/{batch_id}/stamps.csv")
        .get_data(as_text=True)
        .splitlines()[1]
        .split(",")[3]
    )
    public = app.test_client()
    # Thirteen shoppers (a client's own repeats count once for the copy rules).
    statuses = [
        public.get(
            "/api/v1/verify",
            query_string={"q": url},
            environ_base={"REMOTE_ADDR": f"203.0.113.{n}"},
        ).get_json()["status"]
        for n in range(13)
    ]
    assert statuses[:12] == ["genuine"] * 12 and statuses[12] == "suspicious"


def test_a_business_sees_the_reports_about_its_own_stamps_only(
    app: Flask, owner: PortalClient, api: Api
) -> None:
    # A report about another business's stamp.
    batch = api.batch()
    api.issue(batch["id"], 1)
    url = api.stamp_urls(batch["id"])[0]
    shopper = app.test_client()
    page = shopper.get("/report", query_string={"code": url}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    shopper.post("/report", data={"csrf_token": token, "code": url, "note": "Bao bì khác thường"})
    assert "Bao bì khác thường" not in owner.get("/portal/reports").text
    with AppState.of(app).database.session() as session:
        from traceqr.models import Report

        report = session.scalars(select(Report)).one()
        mine = session.scalar(select(Business.id).where(Business.name == "Gốm sứ Minh An"))
        assert report.business_id is not None and report.business_id != mine


def test_a_large_sheet_is_prepared_in_the_background_and_downloaded(
    app: Flask, owner: PortalClient
) -> None:
    batch_id = make_batch(owner, make_product(owner))
    page = owner.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": "5", "active": "y"},
        form_page=f"/portal/batches/{batch_id}",
    )
    jobs = AppState.of(app).jobs
    jobs.wait(int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1)))  # type: ignore[union-attr]
    query = "page=A4&stamp_mm=30&ecc=H"
    designer = f"/portal/batches/{batch_id}/sheet?{query}"
    page = owner.get(designer)
    assert "Chuẩn bị tệp PDF trong nền" in page.text
    page = owner.post(f"/portal/batches/{batch_id}/sheet-job?{query}", {}, form_page=designer)
    assert "Đang chuẩn bị tờ tem" in page.text
    job_id = int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1))  # type: ignore[union-attr]
    jobs.wait(job_id)
    page = owner.get(f"/portal/jobs/{job_id}")
    assert "Xong: 5 tem trên 1 trang." in page.text, page.text
    link = f"/portal/jobs/{job_id}/sheet.pdf"
    assert f'href="{link}"' in page.html
    response = owner.client.get(link)
    assert response.mimetype == "application/pdf"
    from tests.sheet_reading import read_sheet
    from traceqr.domain.sheet import SheetLayout

    cells = read_sheet(response.data, SheetLayout(stamp_mm=30, ecc="H"))
    assert len(cells) == 5 and all(len(c) == 1 for c in cells)
    # A designer layout that does not fit is refused, and no job starts.
    page = owner.post(
        f"/portal/batches/{batch_id}/sheet-job?stamp_mm=15&ecc=H",
        {},
        form_page=designer,
    )
    assert page.errors and "Đang chuẩn bị tờ tem" not in page.text
