"""What shoppers add after a check: where they are, and reports of suspected fakes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.places import nearest_province, rounded
from traceqr.domain.provinces import province
from traceqr.errors import N_, ValidationError
from traceqr.models import Report, Scan, ScanDaily
from traceqr.services.uploads import StoredImage
from traceqr.services.validation import clean_text


def clean_place(
    province_code: Any, lat: Any, lon: Any
) -> tuple[str | None, float | None, float | None]:
    """A province picked from the list, or a position given with consent (rounded to
    ~11 km, and its province looked up), or nothing."""
    if lat not in (None, "") and lon not in (None, ""):
        try:
            lat_r, lon_r = rounded(float(lat), float(lon))
        except (TypeError, ValueError) as exc:
            raise ValidationError(N_("this is not a position on Earth"), field="lat") from exc
        return nearest_province(lat_r, lon_r), lat_r, lon_r
    if province_code in (None, ""):
        return None, None, None
    if province(str(province_code)) is None:
        raise ValidationError(N_("choose a province from the list"), field="province_code")
    return str(province_code), None, None


def set_scan_place(
    session: Session,
    scan_id: int,
    province_code: str | None,
    lat: float | None,
    lon: float | None,
) -> bool:
    """Attach a place to a check that has none yet; the daily counts follow it."""
    scan = session.get(Scan, scan_id)
    if scan is None or scan.province_code is not None or province_code is None:
        return False
    scan.province_code, scan.lat, scan.lon = province_code, lat, lon
    if scan.business_id is not None:
        day = scan.scanned_at.astimezone(VIETNAM_TZ).date()
        key = (
            (ScanDaily.business_id == scan.business_id)
            & (ScanDaily.day == day)
            & (ScanDaily.status == scan.status)
        )
        session.execute(
            update(ScanDaily)
            .where(key, ScanDaily.province_code == "", ScanDaily.count > 0)
            .values(count=ScanDaily.count - 1)
            .execution_options(synchronize_session=False)
        )
        target = session.scalar(
            select(ScanDaily).where(key, ScanDaily.province_code == province_code)
        )
        if target is None:
            session.add(
                ScanDaily(
                    business_id=scan.business_id,
                    day=day,
                    status=scan.status,
                    province_code=province_code,
                    count=1,
                )
            )
        else:
            target.count += 1
    session.flush()
    return True


def create_report(
    session: Session,
    *,
    stamp_id: int | None,
    business_id: int | None,
    scanned_text: str | None,
    status: str,
    data: dict[str, Any],
    photo: StoredImage | None,
    client_hash: bytes | None,
    now: datetime,
) -> Report:
    province_code = data.get("province_code") or None
    if province_code is not None and province(province_code) is None:
        raise ValidationError(N_("choose a province from the list"), field="province_code")
    report = Report(
        stamp_id=stamp_id,
        business_id=business_id,
        scanned_text=(scanned_text or "")[:300] or None,
        status_at_report=status,
        shop_name=clean_text(data.get("shop_name"), "shop_name", max_length=200),
        shop_address=clean_text(data.get("shop_address"), "shop_address", max_length=300),
        province_code=province_code,
        note=clean_text(data.get("note"), "note", max_length=2000, multiline=True),
        contact=clean_text(data.get("contact"), "contact", max_length=200),
        photo=photo.filename if photo else None,
        ip_hash=client_hash,
        created_at=now,
    )
    if not (report.shop_name or report.shop_address or report.note or report.photo):
        raise ValidationError(
            N_("say where you bought it, add a note or a photo"), field="shop_name"
        )
    session.add(report)
    session.flush()
    return report


def reports_for_business(session: Session, business_id: int, limit: int = 50) -> list[Report]:
    return list(
        session.scalars(
            select(Report)
            .where(Report.business_id == business_id)
            .order_by(Report.created_at.desc(), Report.id.desc())  # ix_reports_business_created
            .limit(limit)
        )
    )
