"""Demo data for the authority's view: Hà Nội's register of parks and clusters (from
traceqr/data/hanoi-clusters-demo.csv), small businesses in several clusters — some with
stamps, some without — and sixty days of checks across places and verdicts, forged codes,
shoppers' reports and an inspector case, so the dashboards and hot spots have something to
show. Called by traceqr/services/demo.py; deterministic.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.domain.stamp_format import encode_code, stamp_url
from traceqr.keystore import KeyStore
from traceqr.models import Batch, Business, Official, SigningKey
from traceqr.services import catalog, identity, inspection, issuance, shoppers, stamps
from traceqr.services.authority import Scope
from traceqr.services.businesses import create_business
from traceqr.services.clusters import import_register, link_businesses
from traceqr.services.identity import Reviewer
from traceqr.services.officials import create_official
from traceqr.services.verification import ClientFacts, VerificationService

# The demo's businesses are vouched for as a Department would after checking their papers.
DEMO_REVIEWER = Reviewer.operator("demo", "Sở Công Thương Thành phố Hà Nội")

REGISTER_FILE = "hanoi-clusters-demo.csv"
AUTHORITY_EMAIL = "sct@hanoi.demo.traceqr.vn"
INSPECTOR_EMAIL = "qltt@hanoi.demo.traceqr.vn"


@dataclass(frozen=True)
class ClusterBusiness:
    name: str
    email: str
    commune: str
    cluster: str
    product: str
    category: str
    stamps: int  # 0: registered, no stamps yet
    days_ago: int  # when its batch was made


CLUSTER_BUSINESSES = (
    ClusterBusiness(
        "Gốm Minh Ngọc Bát Tràng",
        "minhngoc@battrang.demo.traceqr.vn",
        "Xã Bát Tràng",
        "Cụm công nghiệp làng nghề Bát Tràng",
        "Lọ hoa men lam 25 cm",
        "Gốm sứ mỹ nghệ",
        40,
        50,
    ),
    ClusterBusiness(
        "Gốm Đức Hạnh",
        "duchanh@battrang.demo.traceqr.vn",
        "Xã Bát Tràng",
        "Cụm công nghiệp làng nghề Bát Tràng",
        "Bát đĩa men rạn",
        "Gốm sứ gia dụng",
        0,
        0,
    ),
    ClusterBusiness(
        "Quỳ vàng Kiêu Kỵ",
        "quyvang@kieuky.demo.traceqr.vn",
        "Xã Kiêu Kỵ",
        "Cụm công nghiệp Kiêu Kỵ",
        "Vàng quỳ dát tượng 100 lá",
        "Thủ công mỹ nghệ",
        30,
        35,
    ),
    ClusterBusiness(
        "Da giầy Kiêu Kỵ",
        "dagiay@kieuky.demo.traceqr.vn",
        "Xã Kiêu Kỵ",
        "Cụm công nghiệp Kiêu Kỵ",
        "Thắt lưng da bò",
        "Đồ da",
        0,
        0,
    ),
    ClusterBusiness(
        "Mây tre đan Phú Túc",
        "maytre@phutuc.demo.traceqr.vn",
        "Xã Phú Túc",
        "Cụm công nghiệp Phú Túc",
        "Giỏ bèo bồng đan tay",
        "Thủ công mỹ nghệ",
        30,
        20,
    ),
    ClusterBusiness(
        "Đồ gỗ Phùng Xá",
        "dogo@phungxa.demo.traceqr.vn",
        "Xã Phùng Xá",
        "Cụm công nghiệp đồ mộc dân dụng Phùng Xá",
        "Ghế gỗ sồi",
        "Đồ gỗ nội thất",
        25,
        45,
    ),
    ClusterBusiness(
        "Cơ khí Phùng Xá",
        "cokhi@phungxa.demo.traceqr.vn",
        "Xã Phùng Xá",
        "Cụm công nghiệp đồ mộc dân dụng Phùng Xá",
        "Bản lề inox",
        "Cơ khí",
        0,
        0,
    ),
    ClusterBusiness(
        "Thực phẩm Phú Thị Xanh",
        "xanh@phuthi.demo.traceqr.vn",
        "Xã Phú Thị",
        "Cụm công nghiệp Phú Thị",
        "Chả quế 500 g",
        "Thực phẩm chế biến",
        30,
        25,
    ),
)

# Where shoppers check: mostly Hà Nội, and the places copies of goods turn up.
PLACES = (
    ("ha-noi", 14),
    ("bac-ninh", 2),
    ("hung-yen", 2),
    ("ho-chi-minh", 2),
    ("lang-son", 1),
    ("", 4),
)
SHOPS = (
    ("Chợ Đồng Xuân, quầy 12", "Phường Hoàn Kiếm", "ha-noi"),
    ("Sạp hàng lưu niệm Hàng Gai", "Phường Hoàn Kiếm", "ha-noi"),
    ("Cửa hàng tạp hóa Minh Anh", "Phường Kinh Bắc", "bac-ninh"),
    ("Chợ cửa khẩu Tân Thanh", "Xã Tân Thanh", "lang-son"),
)


def load_demo_clusters(session: Session, keystore: KeyStore, now: datetime) -> str:
    """The register, the cluster businesses with their stamps, the demo authority and
    inspector accounts. Returns the authority's sign-in e-mail."""
    from traceqr.services.demo import DEMO_PASSWORD

    text = resources.files("traceqr.data").joinpath(REGISTER_FILE).read_text("utf-8")
    import_register(session, text, now)
    for spec in CLUSTER_BUSINESSES:
        made = now - timedelta(days=spec.days_ago)
        created = create_business(
            session,
            keystore,
            name=spec.name,
            email=spec.email,
            now=made,
            with_api_key=False,
            vouched_by=DEMO_REVIEWER,
            profile={
                "address_commune": spec.commune,
                "province_code": "ha-noi",
                "cluster_name": spec.cluster,
            },
        )
        product = catalog.create_product(
            session,
            created.business.id,
            {"name": spec.product, "category": spec.category, "origin": "Việt Nam"},
            made,
        )
        if spec.stamps:
            batch = catalog.create_batch(
                session,
                created.business.id,
                product.id,
                {"lot": f"D{spec.days_ago:02d}-{created.business.id:03d}", "quantity": spec.stamps},
                made,
            )
            issuance.issue_stamps(session, keystore, batch, spec.stamps, now=made)
    link_businesses(session)
    create_official(
        session,
        email=AUTHORITY_EMAIL,
        name="Sở Công Thương Hà Nội (demo)",
        role="authority",
        password=DEMO_PASSWORD,
        provinces=["ha-noi"],
        now=now,
    )
    create_official(
        session,
        email=INSPECTOR_EMAIL,
        name="Đội Quản lý thị trường số 1 (demo)",
        role="inspector",
        password=DEMO_PASSWORD,
        provinces=["ha-noi"],
        now=now,
    )
    return AUTHORITY_EMAIL


PENDING_BUSINESS = {
    "name": "Gốm sứ Minh Phát",
    "email": "minhphat@battrang.demo.traceqr.vn",
    "legal_name": "Công ty TNHH Gốm sứ Minh Phát Bát Tràng",
    "tax_code": "0100000010",
    "address_street": "Số 12, đường Giang Cao",
    "address_commune": "Xã Bát Tràng",
    "legal_representative": "Lê Thị Minh",
}


def load_demo_pending_request(
    session: Session, keystore: KeyStore, uploads: Path, now: datetime
) -> int:
    """A business that signed up and asked to be verified, waiting in the Department's
    queue with the scan of its registration certificate (a made-up one). Returns its id."""
    from traceqr.services.accounts import sign_up
    from traceqr.services.demo import DEMO_PASSWORD
    from traceqr.services.uploads import private_folder, store_document

    spec = PENDING_BUSINESS
    made = sign_up(
        session,
        keystore,
        business_name=spec["name"],
        email=spec["email"],
        password=DEMO_PASSWORD,
        name=spec["legal_representative"],
        now=now - timedelta(days=2),
    )
    document = store_document(
        _certificate_pdf(spec),
        private_folder(uploads),
        field="registration",
        max_bytes=10 * 1024 * 1024,
    )
    identity.submit_request(
        session,
        made.business.id,
        {
            "name": spec["name"],
            "legal_name": spec["legal_name"],
            "tax_code": spec["tax_code"],
            "address_street": spec["address_street"],
            "address_commune": spec["address_commune"],
            "province_code": "ha-noi",
            "legal_representative": spec["legal_representative"],
        },
        identity.RequestDocuments(registration=document.filename),
        user_id=made.owner.id,
        now=now - timedelta(days=1),
    )
    return made.business.id


def _certificate_pdf(spec: dict[str, str]) -> bytes:
    """A one-page mock of a business registration certificate, marked as a demo."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    font = resources.files("traceqr.data").joinpath("fonts/DejaVuSans.ttf")
    with resources.as_file(font) as path:
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(path)))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.setFont("DejaVuSans", 13)
    lines = [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "",
        "GIẤY CHỨNG NHẬN ĐĂNG KÝ DOANH NGHIỆP",
        "CÔNG TY TRÁCH NHIỆM HỮU HẠN (bản mẫu, dữ liệu demo)",
        "",
        f"Mã số doanh nghiệp: {spec['tax_code']}",
        f"Tên công ty: {spec['legal_name']}",
        f"Địa chỉ trụ sở chính: {spec['address_street']}, {spec['address_commune']}, "
        "Thành phố Hà Nội",
        f"Người đại diện theo pháp luật: {spec['legal_representative']}",
    ]
    y = 780.0
    for line in lines:
        page.drawString(60, y, line)
        y -= 24
    page.showPage()
    page.save()
    return out.getvalue()


def simulate_cluster_checks(
    session: Session,
    verifier: VerificationService,
    public_url: str,
    now: datetime,
    keystore: KeyStore | None = None,
) -> int:
    """Sixty days of checks of the cluster businesses' stamps: genuine mostly, one copied
    stamp sold in Lạng Sơn and Hà Nội's old quarter, forged codes, unregistered serials
    signed with a leaked key (when ``keystore`` is given), reports and a case. Returns the
    number of checks."""
    rng = random.Random(2018)  # noqa: S311 - reproducible demo data, not secrets
    emails = [spec.email for spec in CLUSTER_BUSINESSES if spec.stamps]
    owners = {b.id: b for b in session.scalars(select(Business).where(Business.email.in_(emails)))}
    batches = list(
        session.scalars(select(Batch).where(Batch.business_id.in_(list(owners))).order_by(Batch.id))
    )
    urls: list[str] = []
    made_at: list[datetime] = []
    for batch in batches:
        for item in stamps.iter_batch_stamps(session, batch, public_url):
            urls.append(item.url)
            made_at.append(batch.created_at)
    places = [code for code, weight in PLACES for _ in range(weight)]
    count = 0

    def check(text: str, when: datetime, place: str | None) -> str:
        nonlocal count
        client = ClientFacts(
            address=f"198.51.100.{rng.randint(1, 250)}",
            user_agent="Mozilla/5.0 (Linux; Android 14)",
            province_code=place or None,
        )
        count += 1
        return verifier.verify(text, now=when, channel="page", client=client).status.value

    for days_ago in range(59, -1, -1):
        day = now - timedelta(days=days_ago)
        # more shoppers as more businesses adopt stamps
        for _ in range(rng.randint(2, 4) + (60 - days_ago) // 12):
            index = rng.randrange(len(urls))
            when = day.replace(hour=rng.randint(1, 13), minute=rng.randint(0, 59))
            if when <= made_at[index] or when > now:
                continue
            text = urls[index]
            if rng.random() < 0.06:  # a mistyped or forged code
                text = text[:-6] + "".join(
                    rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(6)
                )
            check(text, when, rng.choice(places))
    # One gold-leaf stamp copied onto fakes: sold at the border market and in the old quarter.
    copied = urls[len(urls) // 3]
    for n in range(26):
        when = min(now - timedelta(days=12) + timedelta(hours=9 * n), now)
        check(copied, when, "ha-noi" if n % 3 else "lang-son")
    # Serials that were never issued, signed with the gold-leaf maker's key: a leaked key.
    leaked = _leaked_codes(session, keystore, public_url, owners, 4) if keystore else []
    alarms = logging.getLogger("traceqr.alarms")
    level = alarms.level
    alarms.setLevel(logging.ERROR)  # simulated alarms: not worth a line each in the demo's output
    try:
        for n, text in enumerate(leaked):
            for k in range(2):
                when = now - timedelta(days=8 - n, hours=k * 5)
                check(text, when, "ha-noi" if n % 2 else "bac-ninh")
    finally:
        alarms.setLevel(level)
    _reports_and_case(session, verifier, now, copied, rng)
    return count


def _leaked_codes(
    session: Session,
    keystore: KeyStore,
    public_url: str,
    owners: dict[int, Business],
    how_many: int,
) -> list[str]:
    gold = next(b for b in owners.values() if b.email.startswith("quyvang@"))
    key = session.scalar(select(SigningKey).where(SigningKey.business_id == gold.id))
    if key is None:
        return []
    signer = keystore.load_signer(key.kid, key.public_key)
    serials = [os.urandom(10) for _ in range(how_many)]
    signatures = signer.sign_serials(serials)
    return [
        stamp_url(public_url, encode_code(key.kid, serial, signature))
        for serial, signature in zip(serials, signatures, strict=True)
    ]


def _reports_and_case(
    session: Session,
    verifier: VerificationService,
    now: datetime,
    copied: str,
    rng: random.Random,
) -> None:
    found = verifier.inspect(copied, now=now)
    business_id = found.origin.get("business_id")
    reports = []
    for n, (shop, address, place) in enumerate(SHOPS * 2):
        reports.append(
            shoppers.create_report(
                session,
                stamp_id=found.stamp_id if n % 4 != 3 else None,
                business_id=business_id if n % 4 != 3 else None,
                scanned_text=copied if n % 4 != 3 else "HTTP://FAKE.EXAMPLE/S/ABC",
                status="suspicious" if n % 4 != 3 else "invalid",
                data={
                    "shop_name": shop,
                    "shop_address": address,
                    "province_code": place,
                    "note": "Tem giống hệt, giá rẻ bất thường.",
                },
                photo=None,
                client_hash=None,
                now=now - timedelta(days=10 - n, hours=rng.randint(0, 8)),
            )
        )
    inspector = session.scalar(select(Official).where(Official.email == INSPECTOR_EMAIL))
    if inspector is None or found.stamp_id is None:
        return
    case = inspection.open_case(
        session, inspector, "Vàng quỳ Kiêu Kỵ giả tại chợ cửa khẩu", now - timedelta(days=3)
    )
    inspection.add_to_case(session, case, now - timedelta(days=3), stamp_id=found.stamp_id)
    for report in reports[:2]:  # bought in Hà Nội: in the inspector's provinces
        inspection.attach_report(
            session, case, report.id, Scope.of(inspector), now - timedelta(days=3)
        )
