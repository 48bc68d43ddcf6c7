"""A stamp page with a ceiling (issue 16): a batch with thousands of steps, each made from
many lots, shows its last steps and a link to the rest, read in a fixed number of SQL
statements; and a batch takes at most 2,000 steps, however they come."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event

from tests.conftest import Api
from traceqr.state import AppState


def csv_of(count: int, inputs: str = "", start: int = 0) -> str:
    step = "transforming" if inputs else "storing"
    rows = ["event_time,biz_step,inputs,note"]
    rows += [
        f"2026-01-{1 + n // 1440:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00+07:00,{step},"
        f"{inputs},step {n + 1}"
        for n in range(start, start + count)
    ]
    return "\n".join(rows) + "\n"


def import_csv(api: Api, batch_id: int, text: str) -> Any:
    return api.post(f"/batches/{batch_id}/events.csv", data=text, content_type="text/csv")


@contextmanager
def counted(state: AppState) -> Iterator[list[str]]:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(state.database.engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(state.database.engine, "before_cursor_execute", seen)


def batch_with_steps(api: Api, steps: int, inputs: int) -> tuple[dict[str, Any], str]:
    """A batch of ``steps`` transforming steps, each made from the same ``inputs`` lots
    (each of which has one step of its own); and its stamp's path."""
    product = api.product()
    lots = []
    for _ in range(inputs):
        lot = api.batch(product["id"])
        assert import_csv(api, lot["id"], csv_of(1)).status_code == 201
        lots.append(f"#{lot['id']}")
    batch = api.batch(product["id"])
    answer = import_csv(api, batch["id"], csv_of(steps, ";".join(lots)))
    assert answer.status_code == 201, answer.get_json()
    api.issue(batch["id"], 1)
    (url,) = api.stamp_urls(batch["id"])
    return batch, "/S/" + url.split("/S/", 1)[1]


def steps_in(html: str) -> list[str]:
    return [unescape(n) for n in re.findall(r'<span class="step-note">([^<]*)</span>', html)]


def journey_html(html: str) -> str:
    start = html.index('<section class="card journey"')
    return html[start : html.index("</section>", start)]


def test_a_long_journey_shows_its_last_20_steps_in_a_fixed_number_of_statements(
    client: FlaskClient, api: Api, state: AppState
) -> None:
    _, small = batch_with_steps(api, 3, 2)
    _, big = batch_with_steps(api, 120, 12)
    client.get(small)  # the signing key is cached from now on
    with counted(state) as few:
        small_page = client.get(small + "?lang=en")
    with counted(state) as many:
        big_page = client.get(big + "?lang=en")
    assert small_page.status_code == big_page.status_code == 200
    # The same statements however many steps and inputs: no query per step or per lot.
    assert len(many) == len(few) <= 40, many

    journey = journey_html(big_page.get_data(as_text=True))
    # The batch's own last 20 steps, oldest first, after the 12 lots' single steps... of
    # which the first 10 are shown.
    own = [s for s in steps_in(journey) if s != "step 1"]
    assert own == [f"step {n}" for n in range(101, 121)]
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", journey)))
    assert "The last 20 of 120 steps." in text
    assert "Made from 12 lots in all; the first 10 are shown." in text
    assert text.count("Raw material:") == 10
    assert "and 2 more lots" in text  # each step names 10 of its 12 lots
    link = re.search(r'<a href="([^"]*/journey\?[^"]*)">See all steps</a>', journey)
    assert link is not None
    # The small journey shows everything, and no link.
    assert "See all steps" not in small_page.get_data(as_text=True)


def test_all_steps_page_by_page_from_the_see_more_link(client: FlaskClient, api: Api) -> None:
    _, path = batch_with_steps(api, 120, 0)
    page = client.get(path + "?lang=en").get_data(as_text=True)
    link = unescape(re.search(r'<a href="([^"]*/journey\?[^"]*)">', page).group(1))
    shown = []
    for number in (1, 2, 3):
        answer = client.get(link if number == 1 else f"{link}&page={number}")
        assert answer.status_code == 200
        html = answer.get_data(as_text=True)
        shown += steps_in(html)
        if number == 1:
            assert "Steps 1 to 50 of 120." in unescape(html)
    # Every step once, in order.
    assert shown == [f"step {n}" for n in range(1, 121)]
    assert client.get(f"{link}&page=4").status_code == 404
    assert client.get("/journey?q=not-a-stamp").status_code == 404


def epcis_event_for(api: Api, batch_id: int) -> bytes:
    """A new event on this batch, as a partner's EPCIS document would carry it."""
    document = json.loads(api.get(f"/batches/{batch_id}/epcis.jsonld").get_data())
    events = document["epcisBody"]["eventList"][:1]
    events[0]["eventID"] = f"urn:uuid:{uuid.uuid4()}"
    document["epcisBody"]["eventList"] = events
    return json.dumps(document).encode()


def test_a_batch_takes_2000_steps_and_refuses_the_2001st_everywhere(api: Api) -> None:
    batch = api.batch()
    assert import_csv(api, batch["id"], csv_of(1999)).status_code == 201
    document = epcis_event_for(api, batch["id"])
    # The 2,000th step fits.
    assert api.post(f"/batches/{batch['id']}/events", {"biz_step": "storing"}).status_code == 201

    answers = {
        "api": api.post(f"/batches/{batch['id']}/events", {"biz_step": "storing"}),
        "csv": import_csv(api, batch["id"], csv_of(1, start=3000)),
        "epcis": api.post("/epcis/capture", data=document, content_type="application/ld+json"),
    }
    for where, answer in answers.items():
        assert answer.status_code == 400, where
        error = answer.get_json()["error"]
        assert error["code"] == "invalid_input"
        assert "at most 2000 steps" in error["message"], (where, error)
    events = api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert len(events) == 2000


def test_an_import_past_the_ceiling_writes_nothing(api: Api) -> None:
    batch = api.batch()
    assert import_csv(api, batch["id"], csv_of(1500)).status_code == 201
    answer = import_csv(api, batch["id"], csv_of(501, start=2000))
    assert answer.status_code == 400
    assert "1500" in answer.get_json()["error"]["message"]
    events = api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert len(events) == 1500
