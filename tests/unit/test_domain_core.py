"""The domain core (stamp format, keys, QR and sheets, verification rules) is usable with
neither Flask nor SQLAlchemy: an offline verifier or a sheet worker imports it alone."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import traceqr.domain


def test_every_domain_module_imports_without_flask_or_sqlalchemy() -> None:
    modules = [
        f"traceqr.domain.{info.name}" for info in pkgutil.iter_modules(traceqr.domain.__path__)
    ]
    assert "traceqr.domain.stamp_format" in modules and "traceqr.domain.sheet" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('flask', 'werkzeug', 'sqlalchemy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
