"""What travels over the wire: compressed pages, cacheable static files and keys,
uncompressed streamed downloads."""

from __future__ import annotations

import gzip

from flask.testing import FlaskClient

from tests.conftest import Api


def test_pages_and_json_are_compressed_for_clients_that_ask(client: FlaskClient, api: Api) -> None:
    batch = api.batch()
    api.issue(batch["id"], 1)
    (url,) = api.stamp_urls(batch["id"])
    page = client.get("/S/" + url.split("/S/", 1)[1], headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["Vary"]
    html = gzip.decompress(page.get_data()).decode()
    assert 'data-status="genuine"' in html
    assert page.headers["Cache-Control"] == "no-store"  # every view is a fresh check

    plain = client.get("/api/v1/openapi.json")
    assert "Content-Encoding" not in plain.headers  # not asked for
    squeezed = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert squeezed.headers["Content-Encoding"] == "gzip"
    assert len(squeezed.get_data()) < len(plain.get_data()) / 3


def test_streamed_downloads_are_not_compressed(api: Api) -> None:
    batch = api.batch()
    api.issue(batch["id"], 50)
    response = api.client.get(
        f"/api/v1/batches/{batch['id']}/stamps.csv",
        headers={**api.headers, "Accept-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.get_data(as_text=True).startswith("seq,")


def test_static_files_and_keys_are_cacheable_and_revalidated(client: FlaskClient) -> None:
    with client.get("/static/css/app.css") as css:
        assert css.status_code == 200
        assert "max-age=3600" in css.headers["Cache-Control"]
        etag = css.headers["ETag"]
    with client.get("/static/css/app.css", headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304
    keys = client.get("/.well-known/jwks.json")
    assert keys.headers["ETag"]
    assert (
        client.get(
            "/.well-known/jwks.json", headers={"If-None-Match": keys.headers["ETag"]}
        ).status_code
        == 304
    )
