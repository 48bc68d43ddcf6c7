"""Timing and printing for the benchmarks, with nothing heavy imported: a benchmark whose
worker processes import its main module (the sheet's fork server does) stays light."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timer() -> Iterator[list[float]]:
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)


def report(title: str, rows: list[tuple[str, float, str]]) -> None:
    print(f"\n## {title}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, unit in rows:
        print(f"  {name:<{width}}  {value:10.3f} {unit}")
