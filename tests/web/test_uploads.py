"""Uploaded images: size limits, type read from the content, re-encoding that drops every
piece of metadata and anything hidden after the image, and no decompression bombs."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image, PngImagePlugin

from tests.web.portal_client import PortalClient
from traceqr.domain.qr import decode_qr_texts
from traceqr.errors import ValidationError
from traceqr.services.uploads import safe_upload_path, store_image
from traceqr.state import AppState

LIMIT = 1024 * 1024


def image(
    kind: str = "JPEG", size: tuple[int, int] = (64, 48), mode: str = "RGB", **save: Any
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 0 if mode in ("1", "L") else (90, 140, 60)).save(out, format=kind, **save)
    return out.getvalue()


def stored_bytes(folder: Path, data: bytes) -> tuple[str, bytes]:
    result = store_image(data, folder, field="photo", max_bytes=LIMIT)
    return result.filename, (folder / result.filename).read_bytes()


def refusal(folder: Path, data: bytes) -> str:
    with pytest.raises(ValidationError) as caught:
        store_image(data, folder, field="photo", max_bytes=LIMIT)
    assert caught.value.field == "photo"
    assert not folder.exists() or not list(folder.iterdir()), "nothing is stored"
    return caught.value.template


# --- the type comes from the content -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "choose an image file"),
        (b"<html><script>alert(1)</script></html>", "the file is not an image TraceQR can read"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "the file is not an image TraceQR can read",
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "the file is not an image TraceQR can read"),
        (image("GIF"), "upload a PNG, JPEG or WebP image"),
        (image("BMP"), "upload a PNG, JPEG or WebP image"),
        (image("TIFF"), "upload a PNG, JPEG or WebP image"),
        (
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
            "upload a PNG, JPEG or WebP image",
        ),
        (image("JPEG")[:200], "the file is not an image TraceQR can read"),  # truncated
    ],
    ids=["empty", "html", "svg", "pdf", "gif", "bmp", "tiff", "eps", "truncated-jpeg"],
)
def test_only_real_png_jpeg_or_webp_content_is_taken(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    assert refusal(tmp_path / "uploads", data) == reason


def test_the_file_name_does_not_decide_the_type(app: Flask) -> None:
    portal = PortalClient(app.test_client())
    portal.signup("Cơ sở", "owner@example.vn")
    page = portal.post("/portal/products/new", {"name": "Bình gốm"})
    assert page.endpoint == "portal.product", page.errors
    path = re.search(r'action="(/portal/products/\d+/images)"', page.html).group(1)  # type: ignore[union-attr]
    page = portal.post(
        path,
        {"image": (io.BytesIO(b"<svg onload='alert(1)'/>"), "photo.png")},
        form_page=path.rsplit("/", 1)[0],
        content_type="multipart/form-data",
    )
    assert "không phải là ảnh traceqr đọc được" in " ".join(page.errors).lower(), page.errors
    assert not list(AppState.of(app).settings.uploads_path.glob("*"))
    # A real PNG named .jpg is taken, as the PNG it is.
    page = portal.post(
        path,
        {"image": (io.BytesIO(image("PNG", mode="RGBA")), "photo.jpg")},
        form_page=path.rsplit("/", 1)[0],
        content_type="multipart/form-data",
    )
    assert not page.errors
    stored = list(AppState.of(app).settings.uploads_path.glob("*"))
    assert len(stored) == 1 and stored[0].suffix == ".png"
    assert stored[0].read_bytes().startswith(b"\x89PNG")


# --- size -------------------------------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_saying_the_limit(tmp_path: Path) -> None:
    big = image("PNG", size=(600, 600), mode="RGB") + b"\0" * LIMIT
    assert refusal(tmp_path / "uploads", big) == "the image is too large: at most %(limit)s MB"


def test_a_request_over_the_server_limit_is_refused_before_it_is_read(app: Flask) -> None:
    client = app.test_client()
    response = client.post(
        "/portal/login",
        data=b"email=" + b"x" * (9 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413


# --- decompression bombs ----------------------------------------------------------------------


def test_an_image_with_too_many_pixels_is_refused_without_decoding_it(tmp_path: Path) -> None:
    bomb = image("PNG", size=(8000, 6000), mode="1")  # 48 megapixels in a few kilobytes
    assert len(bomb) < 100_000
    assert refusal(tmp_path / "uploads", bomb) == "the image has too many pixels"


def test_a_bomb_beyond_pillows_own_limit_is_refused_the_same_way(tmp_path: Path) -> None:
    bomb = image("PNG", size=(20000, 10000), mode="1")  # 200 megapixels
    assert refusal(tmp_path / "uploads", bomb) == "the image has too many pixels"
    with pytest.raises(ValueError, match="too many pixels"):
        decode_qr_texts(bomb)


def test_the_inspector_photo_reader_takes_only_photo_formats() -> None:
    # The inspector's page turns either error into "not an image TraceQR can read".
    with pytest.raises((OSError, ValueError)):
        decode_qr_texts(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    with pytest.raises((OSError, ValueError)):
        decode_qr_texts(image("TIFF"))
    assert decode_qr_texts(image("PNG")) == []


# --- re-encoding ------------------------------------------------------------------------------


def test_jpeg_metadata_is_dropped(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    exif[0x8825] = {1: "N", 2: (21.0, 1.0, 0.0), 3: "E", 4: (105.0, 51.0, 0.0)}
    data = image("JPEG", exif=exif, comment=b"SecretComment", icc_profile=b"SecretProfile" * 4)
    assert b"SecretCameraMaker" in data and b"SecretComment" in data
    _, stored = stored_bytes(tmp_path / "uploads", data)
    for secret in (b"SecretCameraMaker", b"SecretComment", b"SecretProfile", b"Exif"):
        assert secret not in stored
    with Image.open(io.BytesIO(stored)) as again:
        assert not again.getexif()
        assert again.format == "JPEG"


def test_png_text_chunks_are_dropped(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "SecretTextChunk")
    info.add_itxt("Author", "Người bí mật")
    data = image("PNG", mode="RGBA", pnginfo=info)
    _, stored = stored_bytes(tmp_path / "uploads", data)
    assert b"SecretTextChunk" not in stored and b"Author" not in stored


def test_anything_hidden_after_the_image_is_dropped(tmp_path: Path) -> None:
    polyglot = image("JPEG") + b"<html><script>alert('xss')</script></html>"
    _, stored = stored_bytes(tmp_path / "uploads", polyglot)
    assert b"<script>" not in stored


def test_large_photos_are_scaled_down_and_named_at_random(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    first = store_image(image(size=(3000, 1500)), folder, field="photo", max_bytes=LIMIT)
    second = store_image(image(size=(3000, 1500)), folder, field="photo", max_bytes=LIMIT)
    assert (first.width, first.height) == (2000, 1000)
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", first.filename)
    assert first.filename != second.filename
    assert sorted(p.name for p in folder.iterdir()) == sorted([first.filename, second.filename])


@pytest.mark.parametrize(
    "name", ["../secret.key", "..", "a/b.jpg", "x.jpg.html", ".jpg", "ABC.JPG", "a%2e.jpg", ""]
)
def test_stored_files_are_found_only_by_their_own_names(tmp_path: Path, name: str) -> None:
    (tmp_path / "secret.key").write_text("x")
    folder = tmp_path / "uploads"
    folder.mkdir()
    assert safe_upload_path(folder, name) is None


# --- private photos ---------------------------------------------------------------------------


def test_report_and_case_photos_are_shown_only_to_who_may_see_them(app: Flask) -> None:
    from sqlalchemy import select

    from tests.web.security_world import build_world
    from traceqr.models import CaseNote, Report

    world = build_world(app)
    with AppState.of(app).database.session() as session:
        report = session.scalars(select(Report)).one()
        note = session.scalars(select(CaseNote)).one()
    report_photo = f"/portal/reports/{report.id}/photo"
    inspector_photos = [
        f"/inspect/reports/{report.id}/photo",
        f"/inspect/cases/{note.case_id}/notes/{note.id}/photo",
    ]
    anonymous = app.test_client()
    for name in (report.photo, note.photo):
        assert name and anonymous.get(f"/media/{name}").status_code == 404
    allowed = [(world.a_portal.client, report_photo)]
    allowed += [(world.inspector.client, path) for path in inspector_photos]
    for client, path in allowed:
        with client.get(path) as response:
            assert response.status_code == 200, path
            assert response.mimetype == "image/jpeg"
            assert response.headers["Cache-Control"] == "private, no-store"
            assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert world.b_portal.client.get(report_photo).status_code == 404
    for path in [report_photo, *inspector_photos]:
        assert anonymous.get(path).status_code == 302  # to a sign-in page
    page = world.a_portal.get("/portal/reports").html
    assert report_photo in page and f"/media/{report.photo}" not in page
