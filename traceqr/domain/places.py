"""Where a scan happened, as coarsely as copy detection needs, and how far apart two are."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

EARTH_RADIUS_KM = 6371.0
GEO_PRECISION = 1  # decimals kept of a shopper's position: 0.1 degree, about 11 km


@dataclass(frozen=True, slots=True)
class Place:
    lat: float
    lon: float

    def km_to(self, other: Place) -> float:
        """Great-circle distance (haversine)."""
        p1, p2 = math.radians(self.lat), math.radians(other.lat)
        dp, dl = p2 - p1, math.radians(other.lon - self.lon)
        a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def rounded(lat: float, lon: float) -> tuple[float, float]:
    """A position coarsened before it is stored: never more precise than ~11 km."""
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (
        -90 <= lat <= 90 and -180 <= lon <= 180
    ):
        raise ValueError("not a position on Earth")
    return round(lat, GEO_PRECISION), round(lon, GEO_PRECISION)


@cache
def _province_places() -> dict[str, Place]:
    from traceqr.domain.provinces import all_provinces

    return {unit.code: Place(unit.lat, unit.lon) for unit in all_provinces()}


def place_of(lat: float | None, lon: float | None, province_code: str | None) -> Place | None:
    """The best place known for a scan: the shopper's rounded position, else their province."""
    if lat is not None and lon is not None:
        return Place(lat, lon)
    if province_code is None:
        return None
    return _province_places().get(province_code)


def nearest_province(lat: float, lon: float) -> str:
    """The province whose administrative centre is closest (for dashboards by province)."""
    from traceqr.domain.provinces import all_provinces

    here = Place(lat, lon)
    return min(all_provinces(), key=lambda unit: here.km_to(Place(unit.lat, unit.lon))).code
