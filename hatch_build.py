"""Build hook: compile the gettext catalogues (.po) into .mo files inside the wheel.

The catalogues live in git as text (traceqr/translations/*/LC_MESSAGES/messages.po);
compiled .mo files are build output and stay out of git.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        root = Path(self.root)
        out_dir = Path(tempfile.mkdtemp(prefix="traceqr-mo-"))
        for po_path in sorted((root / "traceqr" / "translations").glob("*/LC_MESSAGES/*.po")):
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file)
            relative = po_path.relative_to(root).with_suffix(".mo")
            mo_path = out_dir / relative
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            if version == "editable":
                # An editable install imports the package from the source tree.
                (root / relative).write_bytes(mo_path.read_bytes())
            else:
                build_data["force_include"][str(mo_path)] = str(relative)
