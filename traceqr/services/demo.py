"""Demo data: two businesses in Hà Nội's industrial clusters, with stamps that verify, and a
three-business tea supply chain (grower → processor → retailer).

Loaded by ``traceqr demo`` (and ``make run``). Idempotent: a second run finds the demo
businesses and only reprints what the first run wrote to ``instance/demo-credentials.json``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.gs1 import check_digit
from traceqr.domain.stamp_format import stamp_url
from traceqr.keystore import KeyStore
from traceqr.models import Batch, User
from traceqr.services import catalog, issuance, stamps
from traceqr.services.businesses import create_business
from traceqr.services.identity import Reviewer
from traceqr.services.verification import ClientFacts, VerificationService

# The demo's businesses are vouched for as a Department would after checking their papers.
DEMO_REVIEWER = Reviewer.operator("demo", "Sở Công Thương Thành phố Hà Nội")

CREDENTIALS_FILE = "demo-credentials.json"
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - published on purpose: demo only


def gtin13(body12: str) -> str:
    return body12 + str(check_digit(body12))


@dataclass(frozen=True)
class DemoProduct:
    name: str
    gtin_body: str
    brand: str
    category: str
    description: str
    standards: str
    batches: tuple[tuple[str, date, date | None, int], ...]  # lot, NSX, HSD, stamps


@dataclass(frozen=True)
class DemoBusiness:
    name: str
    email: str
    profile: dict[str, object]
    products: tuple[DemoProduct, ...]


DEMO_BUSINESSES = (
    DemoBusiness(
        name="Gốm sứ Hưng Thịnh Bát Tràng",
        email="gomsu@battrang.demo.traceqr.vn",
        profile={
            "legal_name": "Hợp tác xã Gốm sứ Hưng Thịnh Bát Tràng",
            "tax_code": "0101234565",
            "address_street": "Số 18, đường Giang Cao",
            "address_commune": "Xã Bát Tràng",
            "province_code": "ha-noi",
            "cluster_name": "Cụm công nghiệp làng nghề Bát Tràng",
            "phone": "024 3874 1234",
            "website": "https://gomhungthinh.demo.traceqr.vn",
        },
        products=(
            DemoProduct(
                name="Bình hút lộc men rạn vẽ tay 30 cm",
                gtin_body="893612300001",
                brand="Hưng Thịnh",
                category="Gốm sứ mỹ nghệ",
                description="Bình gốm men rạn cổ, vẽ tay họa tiết sen, nung 1.250 °C.",
                standards="TCCS 01:2025/HT",
                batches=(("BT-2611-A", date(2026, 11, 2), None, 120),),
            ),
            DemoProduct(
                name="Bộ ấm chén men lam Bát Tràng",
                gtin_body="893612300002",
                brand="Hưng Thịnh",
                category="Đồ gia dụng gốm sứ",
                description="Bộ ấm trà 6 chén, men lam vẽ tay, an toàn với thực phẩm.",
                standards="TCCS 02:2025/HT; QCVN 12-4:2015/BYT",
                batches=(("BT-2610-C", date(2026, 10, 15), None, 60),),
            ),
        ),
    ),
    DemoBusiness(
        name="Thực phẩm sạch Phú Thị",
        email="thucpham@phuthi.demo.traceqr.vn",
        profile={
            "legal_name": "Công ty TNHH Thực phẩm sạch Phú Thị",
            "tax_code": "0107654326",
            "address_street": "Lô B3, Cụm công nghiệp Phú Thị",
            "province_code": "ha-noi",
            "cluster_name": "Cụm công nghiệp Phú Thị",
            "phone": "024 3678 5678",
        },
        products=(
            DemoProduct(
                name="Giò lụa truyền thống 500 g",
                gtin_body="893612300011",
                brand="Phú Thị Xanh",
                category="Thực phẩm chế biến",
                description="Giò lụa từ thịt lợn VietGAP, gói lá chuối. Bảo quản 0–4 °C.",
                standards="TCVN 10781:2015",
                batches=(
                    ("PT-GL-261125", date(2026, 11, 25), date(2026, 12, 25), 80),
                    ("PT-GL-261101", date(2026, 11, 1), date(2026, 12, 1), 40),
                ),
            ),
        ),
    ),
)


@dataclass(frozen=True)
class DemoCredentials:
    stamp_url: str
    api_key: str
    login_email: str
    login_password: str
    chain_stamp_url: str = ""  # a stamp whose batch went grower → processor → retailer
    authority_login: str = ""  # the Department of Industry and Trade's view (/authority)
    inspector_login: str = ""

    def lines(self) -> list[str]:
        lines = [f"Demo stamp: {self.stamp_url}"]
        if self.chain_stamp_url:
            lines.append(f"Demo stamp with a supply chain: {self.chain_stamp_url}")
        return [
            *lines,
            f"Demo API key: {self.api_key}",
            f"Demo login: {self.login_email} / {self.login_password}",
            *(
                [f"Demo authority login: {self.authority_login} / {self.login_password}"]
                if self.authority_login
                else []
            ),
            *(
                [f"Demo inspector login: {self.inspector_login} / {self.login_password}"]
                if self.inspector_login
                else []
            ),
        ]


# A tea supply chain across three businesses on TraceQR: the grower harvests, ships to the
# processor, who makes packed tea from it and ships that to a shop in Hà Nội.
CHAIN_GROWER = {
    "name": "HTX Chè Tân Cương",
    "email": "htx@tancuong.demo.traceqr.vn",
    "profile": {
        "legal_name": "Hợp tác xã Chè Tân Cương",
        "tax_code": "4601900002",
        "address_street": "Xóm Nam Đồng",
        "address_commune": "Xã Tân Cương",
        "province_code": "thai-nguyen",
    },
}
CHAIN_PROCESSOR = {
    "name": "Chè Hà Nội Sóc Sơn",
    "email": "chehanoi@socson.demo.traceqr.vn",
    "profile": {
        "legal_name": "Công ty Cổ phần Chè Hà Nội Sóc Sơn",
        "tax_code": "0109900009",
        "address_street": "Lô A2, Cụm công nghiệp Nam Sơn",
        "address_commune": "Xã Nam Sơn",
        "province_code": "ha-noi",
        "cluster_name": "Cụm công nghiệp Nam Sơn",
        "phone": "024 3595 2026",
    },
}
CHAIN_RETAILER = {
    "name": "Siêu thị Thăng Long Mart",
    "email": "mart@thanglong.demo.traceqr.vn",
    "profile": {
        "legal_name": "Công ty TNHH Thương mại Thăng Long Mart",
        "tax_code": "0109800004",
        "address_street": "Số 241 Xuân Thủy",
        "address_commune": "Phường Cầu Giấy",
        "province_code": "ha-noi",
    },
}
CHAIN_LOT = "CHN-2611-01"


def load_demo_chain(session: Session, keystore: KeyStore, public_url: str, now: datetime) -> str:
    """The three-business tea chain; returns the URL of one of the packed tea's stamps."""
    from traceqr.services import traceability

    def business(spec: dict) -> int:  # type: ignore[type-arg]
        created = create_business(
            session,
            keystore,
            name=spec["name"],
            email=spec["email"],
            password=DEMO_PASSWORD,
            now=now,
            profile=spec["profile"],
            vouched_by=DEMO_REVIEWER,
        )
        return created.business.id

    def at(days_ago: int, hour: int, minute: int = 0) -> str:
        local = (now - timedelta(days=days_ago)).astimezone(VIETNAM_TZ)
        return local.replace(hour=hour, minute=minute, second=0, microsecond=0).isoformat()

    grower, processor, retailer = (
        business(CHAIN_GROWER),
        business(CHAIN_PROCESSOR),
        business(CHAIN_RETAILER),
    )
    hill = traceability.create_facility(
        session,
        grower,
        {
            "name": "Đồi chè Tân Cương",
            "kind": "farm",
            "address": "Xóm Nam Đồng, xã Tân Cương",
            "province_code": "thai-nguyen",
        },
        now,
    )
    works = traceability.create_facility(
        session,
        processor,
        {
            "name": "Xưởng chế biến Nam Sơn",
            "kind": "factory",
            "address": "Lô A2, Cụm công nghiệp Nam Sơn",
            "province_code": "ha-noi",
        },
        now,
    )
    shop = traceability.create_facility(
        session,
        retailer,
        {
            "name": "Thăng Long Mart Cầu Giấy",
            "kind": "shop",
            "address": "Số 241 Xuân Thủy",
            "province_code": "ha-noi",
        },
        now,
    )

    leaves_product = catalog.create_product(
        session,
        grower,
        {"name": "Chè búp tươi Tân Cương", "origin": "Việt Nam", "standards": "VietGAP"},
        now,
    )
    leaves = catalog.create_batch(
        session, grower, leaves_product.id, {"lot": "TC-2611-05", "quantity": 500}, now
    )
    traceability.record_event(
        session,
        grower,
        leaves.id,
        {
            "biz_step": "commissioning",
            "event_time": at(12, 6),
            "facility_id": hill.id,
            "quantity": 500,
            "unit": "KGM",
            "note": "Hái một tôm hai lá, buổi sáng.",
        },
        now,
        origin="portal",
    )
    to_processor = traceability.ship(
        session,
        grower,
        leaves.id,
        processor,
        {"event_time": at(12, 13), "facility_id": hill.id, "quantity": 500, "unit": "KGM"},
        now,
    )
    traceability.answer_shipment(
        session,
        processor,
        to_processor.id,
        True,
        {"event_time": at(12, 17, 30), "facility_id": works.id},
        now,
    )

    tea_product = catalog.create_product(
        session,
        processor,
        {
            "name": "Chè Thái Nguyên đặc biệt hộp 200 g",
            "gtin": gtin13("893612300021"),
            "brand": "Chè Hà Nội",
            "category": "Chè (trà) khô",
            "origin": "Việt Nam",
            "standards": "TCVN 1457:1983; VietGAP",
            "description": "Chè xanh sao suốt thủ công.",
        },
        now,
    )
    made = (now - timedelta(days=11)).astimezone(VIETNAM_TZ).date()
    tea = catalog.create_batch(
        session,
        processor,
        tea_product.id,
        {
            "lot": CHAIN_LOT,
            "production_date": made.isoformat(),
            "expiry_date": (made + timedelta(days=730)).isoformat(),
            "quantity": 500,
        },
        now,
    )
    traceability.record_event(
        session,
        processor,
        tea.id,
        {
            "biz_step": "transforming",
            "event_time": at(11, 8),
            "facility_id": works.id,
            "inputs": [{"batch_id": leaves.id, "quantity": 500, "unit": "KGM"}],
            "quantity": 100,
            "unit": "KGM",
            "note": "Làm héo, diệt men, vò, sao khô.",
        },
        now,
        origin="portal",
    )
    traceability.record_event(
        session,
        processor,
        tea.id,
        {
            "biz_step": "packing",
            "event_time": at(10, 9),
            "facility_id": works.id,
            "quantity": 500,
            "unit": "BX",
        },
        now,
        origin="portal",
    )
    issuance.issue_stamps(session, keystore, tea, 50, now=now)
    to_shop = traceability.ship(
        session,
        processor,
        tea.id,
        retailer,
        {"event_time": at(9, 7), "facility_id": works.id, "quantity": 120, "unit": "BX"},
        now,
    )
    traceability.answer_shipment(
        session,
        retailer,
        to_shop.id,
        True,
        {"event_time": at(9, 10, 15), "facility_id": shop.id},
        now,
    )
    traceability.record_event(
        session,
        retailer,
        tea.id,
        {"biz_step": "retail_selling", "event_time": at(8, 8), "facility_id": shop.id},
        now,
        origin="portal",
    )
    first = next(stamps.iter_batch_stamps(session, tea, public_url, chunk=1))
    return first.url


def load_demo(
    session: Session, keystore: KeyStore, instance_path: Path, public_url: str, now: datetime
) -> tuple[DemoCredentials, bool]:
    """Create the demo data once; return the credentials to print and whether it was new."""
    path = instance_path / CREDENTIALS_FILE
    first_email = DEMO_BUSINESSES[0].email
    if session.scalar(select(User.id).where(User.email == first_email)) is not None:
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            return DemoCredentials(**data), False
        raise RuntimeError(f"demo data exists but {path} is missing; delete the database to reload")

    first_api_key = ""
    first_stamp_url = ""
    for index, spec in enumerate(DEMO_BUSINESSES):
        created = create_business(
            session,
            keystore,
            name=spec.name,
            email=spec.email,
            password=DEMO_PASSWORD,
            now=now,
            profile=spec.profile,
            vouched_by=DEMO_REVIEWER,
        )
        business_id = created.business.id
        for product_spec in spec.products:
            product = catalog.create_product(
                session,
                business_id,
                {
                    "name": product_spec.name,
                    "gtin": gtin13(product_spec.gtin_body),
                    "brand": product_spec.brand,
                    "category": product_spec.category,
                    "description": product_spec.description,
                    "origin": "Việt Nam",
                    "standards": product_spec.standards,
                },
                now,
            )
            for lot, made, expires, count in product_spec.batches:
                batch = catalog.create_batch(
                    session,
                    business_id,
                    product.id,
                    {
                        "lot": lot,
                        "production_date": made.isoformat(),
                        "expiry_date": expires.isoformat() if expires else None,
                        "quantity": count,
                    },
                    now,
                )
                issuance.issue_stamps(session, keystore, batch, count, now=now)
                if lot == "PT-GL-261101":
                    stamps.recall_batch(
                        session,
                        business_id,
                        batch.id,
                        "Thu hồi tự nguyện: nhiệt độ kho lạnh vượt ngưỡng ngày 20/11/2026.",
                        now,
                    )
                if not first_stamp_url:
                    first = next(stamps.iter_batch_stamps(session, batch, public_url, chunk=1))
                    first_stamp_url = first.url
        if index == 0:
            first_api_key = created.api_key

    chain_stamp_url = load_demo_chain(session, keystore, public_url, now)
    from traceqr.services.demo_authority import (
        INSPECTOR_EMAIL,
        load_demo_clusters,
        load_demo_pending_request,
    )

    authority_login = load_demo_clusters(session, keystore, now)
    load_demo_pending_request(session, keystore, instance_path / "uploads", now)
    credentials = DemoCredentials(
        stamp_url=first_stamp_url or stamp_url(public_url, ""),
        api_key=first_api_key,
        login_email=first_email,
        login_password=DEMO_PASSWORD,
        chain_stamp_url=chain_stamp_url,
        authority_login=authority_login,
        inspector_login=INSPECTOR_EMAIL,
    )
    path.write_text(json.dumps(credentials.__dict__, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return credentials, True


# Where the demo's shoppers are: mostly Hà Nội, some elsewhere.
DEMO_PLACES = (
    ("ha-noi", 12),
    ("bac-ninh", 2),
    ("hung-yen", 2),
    ("hai-phong", 1),
    ("ho-chi-minh", 2),
    ("", 3),
)


def simulate_demo_scans(
    session: Session,
    verifier: VerificationService,
    public_url: str,
    now: datetime,
    skip_url: str,
    keystore: KeyStore | None = None,
) -> int:
    """Thirty days of shoppers checking the demo stamps, so the dashboards have something
    to show: mostly genuine checks, a recalled batch, one stamp checked far too often
    (a copy), and a few fakes. Deterministic. Returns the number of scans."""
    rng = random.Random(2026)  # noqa: S311 - reproducible demo data, not secrets
    urls = [
        item.url
        for batch in session.scalars(select(Batch).order_by(Batch.id))
        for item in stamps.iter_batch_stamps(session, batch, public_url)
        if item.url != skip_url
    ]
    places = [code for code, weight in DEMO_PLACES for _ in range(weight)]
    copied = urls[5]
    count = 0
    for days_ago in range(29, -1, -1):
        day = now - timedelta(days=days_ago)
        for _ in range(rng.randint(4, 14)):
            when = day.replace(hour=rng.randint(1, 13), minute=rng.randint(0, 59))
            if when > now:
                continue
            text = rng.choice(urls)
            if rng.random() < 0.05:
                text = text[:-6] + "".join(
                    rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(6)
                )
            client = ClientFacts(
                address=f"198.51.100.{rng.randint(1, 250)}",
                user_agent="Mozilla/5.0 (Linux; Android 14)",
                province_code=rng.choice(places) or None,
            )
            verifier.verify(text, now=when, channel="page", client=client)
            count += 1
    # The copied stamp: checked again and again, across the country, this week.
    for n in range(24):
        when = now - timedelta(days=6) + timedelta(hours=6 * n)
        client = ClientFacts(
            address=f"203.0.113.{n}",
            user_agent="Mozilla/5.0 (iPhone)",
            province_code=rng.choice(places) or None,
        )
        verifier.verify(copied, now=min(when, now), channel="page", client=client)
        count += 1
    from traceqr.services.demo_authority import simulate_cluster_checks

    return count + simulate_cluster_checks(session, verifier, public_url, now, keystore)
