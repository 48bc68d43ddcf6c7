"""Run every benchmark; each prints its figures and its ratio to a baseline measured in
the same run (shared machines are noisy: compare ratios, not seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ["bench.issuance", "bench.sheet", "bench.portal_pages"]

if __name__ == "__main__":
    failed = 0
    for module in BENCHMARKS:
        failed |= subprocess.call([sys.executable, "-m", module, *sys.argv[1:]], cwd=ROOT)
    sys.exit(failed)
