"""Products and batches (lots), always within one business."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from traceqr.errors import Conflict, NotFound, ValidationError
from traceqr.models import Batch, Product
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
BATCH_TEXT_FIELDS: dict[str, tuple[int, bool]] = {
    "facility": (300, False),
    "notes": (5000, True),
}


def _reject_unknown(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(
            f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}",
            field=unknown[0],
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
        raise Conflict(f"a product with GTIN {product.gtin} already exists", field="gtin")
    session.add(product)
    session.flush()
    return product


def get_product(session: Session, business_id: int, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None or product.business_id != business_id:
        raise NotFound(f"product {product_id} not found")
    return product


def create_batch(
    session: Session, business_id: int, product_id: int, data: dict[str, Any], now: datetime
) -> Batch:
    product = get_product(session, business_id, product_id)
    _reject_unknown(data, {"lot", "production_date", "expiry_date", "quantity", *BATCH_TEXT_FIELDS})
    lot = clean_lot(data.get("lot"))
    production_date = clean_date(data.get("production_date"), "production_date")
    expiry_date = clean_date(data.get("expiry_date"), "expiry_date", month_only_allowed=True)
    if production_date and expiry_date and expiry_date < production_date:
        raise ValidationError("expiry_date cannot be before production_date", field="expiry_date")
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
        raise Conflict(f"product {product.id} already has a batch with lot {lot}", field="lot")
    session.add(batch)
    session.flush()
    return batch


def get_batch(session: Session, business_id: int, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None or batch.business_id != business_id:
        raise NotFound(f"batch {batch_id} not found")
    return batch
