"""Issuance and sheet time against the stamp count (1,000 … 1,000,000), with each run's
peak memory, and the plot docs/performance.md shows.

Each measurement runs in a fresh process, so its peak RSS is its own (for the sheet, the
summed RSS of the process and the worker processes that paint the pages):

- issue: ``traceqr stamps issue`` (the CLI; the API and the portal's jobs run the same
  ``issue_stamps``) into a fresh SQLite or PostgreSQL database, against the floor of
  signing as many messages with Ed25519 (OpenSSL via ``cryptography``) in one process;
- sheet: the batch's stamps read back from the database and written as the vector PDF
  (``traceqr stamps sheet``, to a file), against the floor of computing as many QR
  matrices with zxing-cpp.

    python -m bench.by_count [--counts 1000,10000,100000,1000000] [--db sqlite,postgresql]
                             [--plot docs/performance-by-count.png]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreePeak:
    """The largest summed RSS of this process and all its descendants (the sheet's worker
    processes and their fork server), sampled every 0.1 s while the block runs."""

    def __init__(self) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.1):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += process.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def measure_issue_and_sheet(kind: str, count: int) -> dict[str, float]:
    """In this (fresh) process: issue ``count`` stamps with the CLI's code path, then write
    their sheet from the database; times and peak RSS after each."""
    from bench.common import service
    from traceqr.domain.sheet import SheetLayout, SheetStamp, render_sheet
    from traceqr.models import Batch
    from traceqr.services.issuance import issue_stamps
    from traceqr.services.stamps import iter_batch_stamps
    from traceqr.state import JOB_MAX_STAMPS, utcnow

    result: dict[str, float] = {}
    with service(kind) as svc:
        state = svc.state
        with state.database.session() as session:
            batch = session.get(Batch, svc.batch_id)
            start = time.perf_counter()
            issue_stamps(
                session, state.keystore, batch, count, now=utcnow(), max_count=JOB_MAX_STAMPS
            )
            session.commit()
            result["issue_s"] = time.perf_counter() - start
        result["issue_peak_mb"] = _peak_mb()
        with (
            state.database.session() as session,
            tempfile.TemporaryFile() as out,
            TreePeak() as tree,
        ):
            batch = session.get(Batch, svc.batch_id)
            start = time.perf_counter()
            render_sheet(
                (
                    SheetStamp(url=s.url, short_code=s.short_code, seq=s.seq)
                    for s in iter_batch_stamps(session, batch, state.settings.public_url)
                ),
                out,
                SheetLayout(),
                footer="TraceQR - lot B1",
                total=count,
            )
            result["sheet_s"] = time.perf_counter() - start
            result["sheet_bytes"] = out.tell()
        result["sheet_peak_mb"] = max(_peak_mb(), tree.peak_mb)  # all processes together
    return result


def measure_floors(count: int) -> dict[str, float]:
    import zxingcpp
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from traceqr.domain.keys import StampSigner, generate_seed, new_kid

    key = Ed25519PrivateKey.generate()
    messages = [os.urandom(31) for _ in range(min(count, 100_000))]
    start = time.perf_counter()
    for message in messages:
        key.sign(message)
    sign_s = (time.perf_counter() - start) * count / len(messages)
    signer = StampSigner(new_kid(), generate_seed())
    urls = [
        signer.issue(os.urandom(10)).url("https://traceqr.example.vn")
        for _ in range(min(count, 20_000))
    ]
    start = time.perf_counter()
    for url in urls:
        zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="Q", data_mask=3)
    qr_s = (time.perf_counter() - start) * count / len(urls)
    return {"sign_floor_s": sign_s, "qr_floor_s": qr_s}


def child(kind: str, count: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.by_count", "--child", kind, "--count", str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def plot(rows: list[dict[str, float | str]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind, marker in (("sqlite", "o"), ("postgresql", "s")):
        mine = [r for r in rows if r["db"] == kind]
        if mine:
            left.plot(
                [r["count"] for r in mine],
                [r["issue_s"] for r in mine],
                marker=marker,
                label=f"issue ({kind})",
            )
            right.plot(
                [r["count"] for r in mine],
                [r["sheet_s"] for r in mine],
                marker=marker,
                label=f"sheet ({kind})",
            )
    floors = sorted({(r["count"], r["sign_floor_s"], r["qr_floor_s"]) for r in rows})
    left.plot([f[0] for f in floors], [f[1] for f in floors], "k--", label="floor: Ed25519 signing")
    right.plot(
        [f[0] for f in floors], [f[2] for f in floors], "k--", label="floor: zxing-cpp QR matrices"
    )
    for axis, title in ((left, "Issuing stamps"), (right, "Writing the sheet PDF")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("stamps")
        axis.set_ylabel("seconds")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="1000,10000,100000,1000000")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "performance-by-count.png"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_issue_and_sheet(args.child, args.count)))
        return

    rows: list[dict[str, float | str]] = []
    print(
        f"{'db':<11}{'stamps':>10}{'issue s':>10}{'x floor':>9}{'peak MB':>9}"
        f"{'sheet s':>10}{'x floor':>9}{'peak MB':>9}{'PDF MB':>9}"
    )
    for count in (int(c) for c in args.counts.split(",")):
        floors = measure_floors(count)
        for kind in args.db.split(","):
            figures = child(kind, count)
            row = {"db": kind, "count": count, **floors, **figures}
            rows.append(row)
            print(
                f"{kind:<11}{count:>10,}{figures['issue_s']:>10.2f}"
                f"{figures['issue_s'] / floors['sign_floor_s']:>9.2f}"
                f"{figures['issue_peak_mb']:>9.0f}"
                f"{figures['sheet_s']:>10.2f}{figures['sheet_s'] / floors['qr_floor_s']:>9.2f}"
                f"{figures['sheet_peak_mb']:>9.0f}{figures['sheet_bytes'] / 1e6:>9.1f}",
                flush=True,
            )
    plot(rows, Path(args.plot))
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
