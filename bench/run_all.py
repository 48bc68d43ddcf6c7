"""Run every benchmark; each prints its figures and its ratio to a baseline measured in
the same run (shared machines are noisy: compare ratios, not seconds)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = [
    "bench.issuance",
    "bench.sheet",
    "bench.verification",
    "bench.portal_pages",
    "bench.http_verification",
    "bench.authority_dashboard",
]
# Programs a benchmark needs besides Python packages: without them it is skipped, saying why.
NEEDS = {"bench.http_verification": ("wrk", "apt-get install -y wrk")}

if __name__ == "__main__":
    failed = 0
    for module in BENCHMARKS:
        program, install = NEEDS.get(module, (None, None))
        if program and shutil.which(program) is None:
            print(f"\n## {module}: skipped, {program} is not installed ({install})")
            continue
        failed |= subprocess.call([sys.executable, "-m", module, *sys.argv[1:]], cwd=ROOT)
    sys.exit(failed)
