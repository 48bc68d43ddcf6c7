"""``python -m traceqr`` is the ``traceqr`` command."""

from traceqr.cli import main

main()
