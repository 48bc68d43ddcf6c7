"""Uploaded images (product photos, logos): checked, re-encoded, stored under a random name.

Nothing a person uploads is served as uploaded: the file must decode as a PNG, JPEG or
WebP image within size limits, and is re-encoded (which drops EXIF, GPS and every other
piece of metadata) before it is stored.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from traceqr.errors import N_, ValidationError

ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP"}
MAX_PIXELS = 40_000_000  # refuse decompression bombs long before Pillow's own limit
MAX_SIDE = 2000  # stored images are scaled down to this
FILENAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.")
# Images of other kinds (GIF, BMP, TIFF, HEIC, AVIF, ICO, PostScript): only named, never read.
OTHER_IMAGE_SIGNATURES = (
    b"GIF8",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x18ftyp",
    b"\x00\x00\x00\x1cftyp",
    b"\x00\x00\x00 ftyp",
    b"\x00\x00\x01\x00",
    b"%!PS",
)


@dataclass(frozen=True)
class StoredImage:
    filename: str
    width: int
    height: int


def store_image(
    data: bytes, folder: Path, *, field: str, max_bytes: int, max_side: int = MAX_SIDE
) -> StoredImage:
    if not data:
        raise ValidationError(N_("choose an image file"), field=field)
    if len(data) > max_bytes:
        raise ValidationError(
            N_("the image is too large: at most %(limit)s MB"),
            field=field,
            limit=max_bytes // (1024 * 1024),
        )
    try:
        # The content decides, never the file name: only these readers may look at it.
        with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise ValidationError(N_("the image has too many pixels"), field=field)
            probe.verify()
        with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as image:
            image.load()
            image = ImageOps.exif_transpose(image)  # keep the orientation, drop the tag
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            image = image.convert("RGBA" if has_alpha else "RGB")
            image.info = {}  # comments, ICC and XMP would otherwise be written again
            image.thumbnail((max_side, max_side))
            out = io.BytesIO()
            if has_alpha:
                image.save(out, format="PNG", optimize=True)
                extension = "png"
            else:
                image.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
                extension = "jpg"
            width, height = image.size
    except ValidationError:
        raise
    except Image.DecompressionBombError as exc:
        raise ValidationError(N_("the image has too many pixels"), field=field) from exc
    except UnidentifiedImageError as exc:
        if data.startswith(OTHER_IMAGE_SIGNATURES):
            raise ValidationError(N_("upload a PNG, JPEG or WebP image"), field=field) from exc
        raise ValidationError(N_("the file is not an image TraceQR can read"), field=field) from exc
    except (OSError, ValueError) as exc:
        raise ValidationError(N_("the file is not an image TraceQR can read"), field=field) from exc
    folder.mkdir(parents=True, exist_ok=True)
    filename = f"{secrets.token_hex(16)}.{extension}"
    path = folder / filename
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(out.getvalue())
    os.replace(tmp, path)
    return StoredImage(filename, width, height)


def safe_upload_path(folder: Path, filename: str) -> Path | None:
    """The stored file for a public name, or None: names are ours, never paths."""
    if not filename or set(filename) - FILENAME_CHARS or filename.count(".") != 1:
        return None
    path = folder / filename
    return path if path.is_file() else None


def private_folder(uploads: Path) -> Path:
    """Where shoppers' report photos and inspectors' case photos go: never served at
    /media, only through views that check who is asking."""
    return uploads / "private"


def stored_private_upload(uploads: Path, filename: str | None) -> Path | None:
    """A private upload by its stored name; one stored before private uploads existed
    is still found among the public ones."""
    if not filename:
        return None
    return safe_upload_path(private_folder(uploads), filename) or safe_upload_path(
        uploads, filename
    )
