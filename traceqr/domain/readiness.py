"""What Vietnam's traceability and labelling rules expect before a batch goes to market.

Circular 02/2024/TT-BKHCN lists the data a traceability record holds (product name,
images, producer and address, stages with times, production time, trace code, brand and
serial if any, shelf life if any, standards applied); Decree 43/2017 (amended by
111/2021) requires the origin (xuất xứ) and the responsible party's name and address on
the label. This module turns the facts of a product and batch into the list of items
still missing, each with a stable code the pages translate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReadinessFacts:
    product_name: bool
    product_images: bool
    business_name: bool
    business_address: bool  # street or commune, and province
    origin: bool
    standards: bool
    production_date: bool | None = None  # None: not about a batch
    expiry_date: bool | None = None
    stage_recorded: bool | None = None  # facility or trace events
    stamps_issued: bool | None = None


@dataclass(frozen=True, slots=True)
class ReadinessItem:
    code: str
    rule: str  # where the requirement comes from
    required: bool  # False: expected "if any", shown as a recommendation


ITEMS: tuple[ReadinessItem, ...] = (
    ReadinessItem("product_name", "Circular 02/2024 (1)", True),
    ReadinessItem("product_images", "Circular 02/2024 (2)", True),
    ReadinessItem("business_name", "Circular 02/2024 (3)", True),
    ReadinessItem("business_address", "Circular 02/2024 (4); Decree 43/2017", True),
    ReadinessItem("origin", "Decree 43/2017, art. 10", True),
    ReadinessItem("standards", "Circular 02/2024 (10)", True),
    ReadinessItem("production_date", "Circular 02/2024 (6)", True),
    ReadinessItem("stage_recorded", "Circular 02/2024 (5)", False),
    ReadinessItem("expiry_date", "Circular 02/2024 (9)", False),
    ReadinessItem("stamps_issued", "Circular 02/2024 (7)", True),
)


def missing_items(facts: ReadinessFacts) -> list[ReadinessItem]:
    """Items whose fact is False; facts left as None do not apply here."""
    return [item for item in ITEMS if getattr(facts, item.code) is False]


def is_ready(facts: ReadinessFacts) -> bool:
    return not any(item.required for item in missing_items(facts))
