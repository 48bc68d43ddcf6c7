"""Products and batches (lots), always within one business."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from traceqr.domain.readiness import ReadinessFacts
from traceqr.errors import N_, Conflict, NotFound, ValidationError
from traceqr.models import Batch, Business, Certification, Product, ProductImage
from traceqr.services import identity
from traceqr.services.uploads import StoredImage
from traceqr.services.validation import (
    clean_date,
    clean_gtin,
    clean_lot,
    clean_positive_int,
    clean_text,
    required_text,
)

PRODUCT_TEXT_FIELDS: dict[str, tuple[int, bool]] = {
    # field: (max length, multiline)
    "description": (5000, True),
    "brand": (200, False),
    "category": (200, False),
    "origin": (200, False),
    "standards": (2000, True),
}
T = TypeVar("T")
BATCH_FIELDS = (
    "lot",
    "production_date",
    "expiry_date",
    "quantity",
    "requires_activation",
    "with_pin",
    "stamp_format",
)
STAMP_FORMATS = (1, 2)
MAX_IMAGES_PER_PRODUCT = 8
BATCH_TEXT_FIELDS: dict[str, tuple[int, bool]] = {
    "facility": (300, False),
    "notes": (5000, True),
}


def _reject_unknown(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(
            N_("unknown field %(name)s; allowed: %(allowed)s"),
            field=unknown[0],
            name=unknown[0],
            allowed=", ".join(sorted(allowed)),
        )


def create_product(
    session: Session, business_id: int, data: dict[str, Any], now: datetime
) -> Product:
    _reject_unknown(data, {"name", "gtin", *PRODUCT_TEXT_FIELDS})
    product = Product(
        business_id=business_id,
        name=required_text(data.get("name"), "name", max_length=300),
        gtin=clean_gtin(data.get("gtin")),
        created_at=now,
        updated_at=now,
    )
    for field, (max_length, multiline) in PRODUCT_TEXT_FIELDS.items():
        setattr(
            product,
            field,
            clean_text(data.get(field), field, max_length=max_length, multiline=multiline),
        )
    if product.gtin is not None and session.scalar(
        select(Product.id).where(Product.business_id == business_id, Product.gtin == product.gtin)
    ):
        raise Conflict(
            N_("a product with GTIN %(gtin)s already exists"), field="gtin", gtin=product.gtin
        )
    identity.check_gtin(session, business_id, product.gtin, now)
    session.add(product)
    session.flush()
    return product


def get_product(session: Session, business_id: int, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None or product.business_id != business_id:
        raise NotFound(N_("product %(id)s not found"), id=product_id)
    return product


def clean_stamp_format(value: Any, product: Product) -> int:
    """1: the TraceQR URL (any product); 2: a GS1 Digital Link, for products with a GTIN."""
    if value is None or value == "":
        return 1
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value) not in ("1", "2"):
        raise ValidationError(N_("the stamp format is 1 or 2"), field="stamp_format")
    chosen = int(value)
    if chosen == 2 and product.gtin is None:
        raise ValidationError(
            N_("GS1 Digital Link stamps need the product's GTIN: add it first"),
            field="stamp_format",
        )
    return chosen


def create_batch(
    session: Session, business_id: int, product_id: int, data: dict[str, Any], now: datetime
) -> Batch:
    product = get_product(session, business_id, product_id)
    _reject_unknown(data, {*BATCH_FIELDS, *BATCH_TEXT_FIELDS})
    lot = clean_lot(data.get("lot"))
    production_date = clean_date(data.get("production_date"), "production_date")
    expiry_date = clean_date(data.get("expiry_date"), "expiry_date", month_only_allowed=True)
    if production_date and expiry_date and expiry_date < production_date:
        raise ValidationError(
            N_("the expiry date cannot be before the production date"), field="expiry_date"
        )
    quantity = data.get("quantity")
    batch = Batch(
        business_id=business_id,
        product_id=product.id,
        lot=lot,
        production_date=production_date,
        expiry_date=expiry_date,
        quantity=None
        if quantity is None
        else clean_positive_int(quantity, "quantity", maximum=1_000_000_000),
        requires_activation=bool(data.get("requires_activation", False)),
        with_pin=bool(data.get("with_pin", False)),
        stamp_format=clean_stamp_format(data.get("stamp_format"), product),
        stamps_total=0,
        stamps_active=0,
        stamps_revoked=0,
        created_at=now,
    )
    for field, (max_length, multiline) in BATCH_TEXT_FIELDS.items():
        setattr(
            batch,
            field,
            clean_text(data.get(field), field, max_length=max_length, multiline=multiline),
        )
    if session.scalar(select(Batch.id).where(Batch.product_id == product.id, Batch.lot == lot)):
        raise Conflict(
            N_("this product already has a batch with lot %(lot)s"), field="lot", lot=lot
        )
    session.add(batch)
    session.flush()
    return batch


def get_batch(session: Session, business_id: int, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None or batch.business_id != business_id:
        raise NotFound(N_("batch %(id)s not found"), id=batch_id)
    return batch


def update_product(
    session: Session, business_id: int, product_id: int, data: dict[str, Any], now: datetime
) -> Product:
    product = get_product(session, business_id, product_id)
    _reject_unknown(data, {"name", "gtin", *PRODUCT_TEXT_FIELDS})
    if "name" in data:
        product.name = required_text(data["name"], "name", max_length=300)
    if "gtin" in data:
        gtin = clean_gtin(data["gtin"])
        if gtin != product.gtin and session.scalar(
            select(Batch.id).where(
                Batch.product_id == product.id, Batch.stamp_format == 2, Batch.stamps_total > 0
            )
        ):
            raise Conflict(
                N_("the GTIN cannot change: GS1 Digital Link stamps carry it, signed"),
                field="gtin",
            )
        if (
            gtin is not None
            and gtin != product.gtin
            and session.scalar(
                select(Product.id).where(Product.business_id == business_id, Product.gtin == gtin)
            )
        ):
            raise Conflict(
                N_("a product with GTIN %(gtin)s already exists"), field="gtin", gtin=gtin
            )
        if gtin != product.gtin:
            identity.check_gtin(session, business_id, gtin, now)
            old_gtin, product.gtin = product.gtin, gtin
            session.flush()
            identity.release_gtin(session, business_id, old_gtin)
    for field, (max_length, multiline) in PRODUCT_TEXT_FIELDS.items():
        if field in data:
            setattr(
                product,
                field,
                clean_text(data[field], field, max_length=max_length, multiline=multiline),
            )
    product.updated_at = now
    session.flush()
    return product


def update_batch(session: Session, business_id: int, batch_id: int, data: dict[str, Any]) -> Batch:
    """Change a batch's facts; the lot is fixed once stamps carry it."""
    batch = get_batch(session, business_id, batch_id)
    _reject_unknown(data, {*BATCH_FIELDS, *BATCH_TEXT_FIELDS})
    if "lot" in data:
        lot = clean_lot(data["lot"])
        if lot != batch.lot:
            if batch.stamps_total:
                raise Conflict(N_("the lot cannot change once stamps are issued"), field="lot")
            if session.scalar(
                select(Batch.id).where(Batch.product_id == batch.product_id, Batch.lot == lot)
            ):
                raise Conflict(
                    N_("this product already has a batch with lot %(lot)s"), field="lot", lot=lot
                )
            batch.lot = lot
    if "stamp_format" in data:
        product = session.get(Product, batch.product_id)
        assert product is not None
        chosen = clean_stamp_format(data["stamp_format"], product)
        if chosen != batch.stamp_format and batch.stamps_total:
            raise Conflict(
                N_("the stamp format cannot change once stamps are issued"), field="stamp_format"
            )
        batch.stamp_format = chosen
    production_date = (
        clean_date(data["production_date"], "production_date")
        if "production_date" in data
        else batch.production_date
    )
    expiry_date = (
        clean_date(data["expiry_date"], "expiry_date", month_only_allowed=True)
        if "expiry_date" in data
        else batch.expiry_date
    )
    if production_date and expiry_date and expiry_date < production_date:
        raise ValidationError(
            N_("the expiry date cannot be before the production date"), field="expiry_date"
        )
    batch.production_date, batch.expiry_date = production_date, expiry_date
    if "quantity" in data:
        quantity = data["quantity"]
        batch.quantity = (
            None
            if quantity is None
            else clean_positive_int(quantity, "quantity", maximum=1_000_000_000)
        )
    if "requires_activation" in data:
        batch.requires_activation = bool(data["requires_activation"])
    if "with_pin" in data and bool(data["with_pin"]) != batch.with_pin:
        if batch.stamps_total:
            raise Conflict(
                N_("PINs can only be switched on or off before stamps are issued"),
                field="with_pin",
            )
        batch.with_pin = bool(data["with_pin"])
    for field, (max_length, multiline) in BATCH_TEXT_FIELDS.items():
        if field in data:
            setattr(
                batch,
                field,
                clean_text(data[field], field, max_length=max_length, multiline=multiline),
            )
    session.flush()
    return batch


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def list_products(
    session: Session, business_id: int, page: int = 1, per_page: int = 25, search: str = ""
) -> Page[Product]:
    query = select(Product).where(Product.business_id == business_id)
    if search:
        pattern = f"%{search.strip()[:100]}%"
        query = query.where(Product.name.ilike(pattern) | Product.gtin.like(pattern))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    items = session.scalars(
        query.order_by(Product.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(list(items), page, per_page, total)


def list_batches(
    session: Session,
    business_id: int,
    page: int = 1,
    per_page: int = 25,
    product_id: int | None = None,
) -> Page[tuple[Batch, Product]]:
    query = select(Batch, Product).join(Product, Product.id == Batch.product_id)
    query = query.where(Batch.business_id == business_id)
    if product_id is not None:
        query = query.where(Batch.product_id == product_id)
    count_query = select(func.count()).select_from(Batch).where(Batch.business_id == business_id)
    if product_id is not None:
        count_query = count_query.where(Batch.product_id == product_id)
    total = session.scalar(count_query) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    rows = session.execute(
        query.order_by(Batch.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page([(batch, product) for batch, product in rows], page, per_page, total)


# --- images and certifications -------------------------------------------------------------

CERTIFICATION_KINDS = (
    "OCOP",
    "VietGAP",
    "GlobalGAP",
    "ISO 22000",
    "HACCP",
    "ISO 9001",
    "Hữu cơ",
    "Other",
)


def add_product_image(
    session: Session, business_id: int, product_id: int, stored: StoredImage, now: datetime
) -> ProductImage:
    product = get_product(session, business_id, product_id)
    count = session.scalar(select(func.count()).where(ProductImage.product_id == product.id)) or 0
    if count >= MAX_IMAGES_PER_PRODUCT:
        raise ValidationError(
            N_("a product has at most %(limit)s images"),
            field="image",
            limit=MAX_IMAGES_PER_PRODUCT,
        )
    image = ProductImage(
        product_id=product.id,
        filename=stored.filename,
        width=stored.width,
        height=stored.height,
        created_at=now,
    )
    session.add(image)
    session.flush()
    return image


def product_images(session: Session, product_id: int) -> list[ProductImage]:
    return list(
        session.scalars(
            select(ProductImage)
            .where(ProductImage.product_id == product_id)
            .order_by(ProductImage.id)
        )
    )


def remove_product_image(
    session: Session, business_id: int, product_id: int, image_id: int
) -> ProductImage:
    product = get_product(session, business_id, product_id)
    image = session.get(ProductImage, image_id)
    if image is None or image.product_id != product.id:
        raise NotFound(N_("no such image"))
    session.delete(image)
    session.flush()
    return image


def add_certification(
    session: Session, business_id: int, product_id: int, data: dict[str, Any], now: datetime
) -> Certification:
    product = get_product(session, business_id, product_id)
    kind = required_text(data.get("kind"), "kind", max_length=40)
    valid_from = clean_date(data.get("valid_from"), "valid_from")
    valid_until = clean_date(data.get("valid_until"), "valid_until", month_only_allowed=True)
    if valid_from and valid_until and valid_until < valid_from:
        raise ValidationError(
            N_("the end of validity cannot be before its start"), field="valid_until"
        )
    certification = Certification(
        product_id=product.id,
        kind=kind,
        number=clean_text(data.get("number"), "number", max_length=100),
        issuer=clean_text(data.get("issuer"), "issuer", max_length=200),
        grade=clean_text(data.get("grade"), "grade", max_length=20),
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=now,
    )
    session.add(certification)
    session.flush()
    return certification


def certifications(session: Session, product_id: int) -> list[Certification]:
    return list(
        session.scalars(
            select(Certification)
            .where(Certification.product_id == product_id)
            .order_by(Certification.id)
        )
    )


def remove_certification(
    session: Session, business_id: int, product_id: int, certification_id: int
) -> None:
    product = get_product(session, business_id, product_id)
    certification = session.get(Certification, certification_id)
    if certification is None or certification.product_id != product.id:
        raise NotFound(N_("no such certification"))
    session.delete(certification)
    session.flush()


def readiness(session: Session, product: Product, batch: Batch | None = None) -> ReadinessFacts:
    business = session.get(Business, product.business_id)
    assert business is not None
    has_images = (
        session.scalar(
            select(ProductImage.id).where(ProductImage.product_id == product.id).limit(1)
        )
        is not None
    )
    return ReadinessFacts(
        product_name=bool(product.name),
        product_images=has_images,
        business_name=bool(business.name),
        business_address=bool(
            (business.address_street or business.address_commune) and business.province_code
        ),
        origin=bool(product.origin),
        standards=bool(product.standards),
        production_date=None if batch is None else batch.production_date is not None,
        expiry_date=None if batch is None else batch.expiry_date is not None,
        stage_recorded=None if batch is None else bool(batch.facility),
        stamps_issued=None if batch is None else batch.stamps_total > 0,
    )
