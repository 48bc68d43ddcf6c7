"""Printing: a sheet.pdf of N stamps against the floor of computing N QR matrices with
zxing-cpp (fixed mask) in one process; the sheet in one process and with the worker
processes render_sheet uses for large sheets (one per core, at most four).

    python bench/sheet.py [--count 10000]
"""

from __future__ import annotations

import argparse
import os
import resource

import zxingcpp

from bench.reporting import report, timer
from traceqr.domain.keys import StampSigner, generate_seed, new_kid
from traceqr.domain.sheet import SheetLayout, SheetStamp, render_sheet, sheet_workers
from traceqr.domain.stamp_format import short_code

PUBLIC_URL = "https://traceqr.example.vn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    signer = StampSigner(new_kid(), generate_seed())
    stamps = []
    for _ in range(args.count):
        stamp = signer.issue(os.urandom(10))
        stamps.append(SheetStamp(stamp.url(PUBLIC_URL), short_code(stamp.serial)))

    with timer() as floor:
        for item in stamps:
            zxingcpp.create_barcode(
                item.url, zxingcpp.BarcodeFormat.QRCode, ec_level="Q", data_mask=3
            )
    with open(os.devnull, "wb") as sink, timer() as sheet:
        summary = render_sheet(iter(stamps), sink, SheetLayout(), workers=1)
    workers = sheet_workers(args.count)
    with open(os.devnull, "wb") as sink, timer() as parallel:
        render_sheet(iter(stamps), sink, SheetLayout(), total=args.count, workers=workers)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report(
        f"Sheet of {args.count:,} stamps ({summary.pages} pages)",
        [
            ("floor: zxing-cpp QR matrices", floor[0], "s"),
            ("render_sheet, one process", sheet[0], "s"),
            ("  ratio to floor", sheet[0] / floor[0], "x"),
            (f"render_sheet, {workers} worker processes", parallel[0], "s"),
            ("  ratio to floor (target <= 3)", parallel[0] / floor[0], "x"),
            ("peak RSS of the process", peak_mb, "MB"),
        ],
    )


if __name__ == "__main__":
    main()
