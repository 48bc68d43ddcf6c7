"""Uploaded images (product photos, logos) and documents (a business's certificates):
checked, re-encoded, stored under a random name.

Nothing a person uploads is served as uploaded: the file must decode as a PNG, JPEG or
WebP image within size limits, and is re-encoded (which drops EXIF, GPS and every other
piece of metadata) before it is stored. A PDF document is rendered page by page and a new
PDF is made of those page images: its scripts, attachments, forms, links and metadata are
left behind.
"""

from __future__ import annotations

import io
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from traceqr.errors import N_, ValidationError

ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP"}
# Decompression bombs are refused long before Pillow's own limit (89 million pixels): a
# 154 KB PNG of 6300×6300 pixels took 510 MB to decode. 25 million is a 24-megapixel
# camera's 6000×4000 with room to spare; phones take 12.
MAX_PIXELS = 25_000_000
MAX_SIDE = 2000  # stored images are scaled down to this
PRIVATE_FOLDER = "private"
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


@dataclass(frozen=True)
class PreparedImage:
    """An upload that is checked and re-encoded, held in memory under the name it will be
    stored as: what it belongs to can be validated first, and the file written last."""

    stored: StoredImage
    data: bytes

    def save(self, folder: Path) -> Path:
        return _write_as(folder, self.stored.filename, self.data)


def store_image(
    data: bytes, folder: Path, *, field: str, max_bytes: int, max_side: int = MAX_SIDE
) -> StoredImage:
    prepared = prepare_image(data, field=field, max_bytes=max_bytes, max_side=max_side)
    prepared.save(folder)
    return prepared.stored


def prepare_image(
    data: bytes, *, field: str, max_bytes: int, max_side: int = MAX_SIDE
) -> PreparedImage:
    """Check and re-encode an uploaded image without storing it (see :func:`store_image`)."""
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
        # Width and height come from the header: a bomb is refused before a pixel is read.
        with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise ValidationError(N_("the image has too many pixels"), field=field)
            probe.verify()
        with Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS)) as image:
            if image.width * image.height > MAX_PIXELS:  # the same bytes, read once more
                raise ValidationError(N_("the image has too many pixels"), field=field)
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
    filename = f"{secrets.token_hex(16)}.{extension}"
    return PreparedImage(StoredImage(filename, width, height), out.getvalue())


def _write(folder: Path, extension: str, data: bytes) -> str:
    """Store ``data`` under a new random name; a reader never sees half a file."""
    filename = f"{secrets.token_hex(16)}.{extension}"
    _write_as(folder, filename, data)
    return filename


def _write_as(folder: Path, filename: str, data: bytes) -> Path:
    """Private uploads (shoppers' photos, certificates) are readable by the service's own
    user only: 0600 in a 0700 folder. Public ones are served to anyone anyway."""
    private = folder.name == PRIVATE_FOLDER
    folder.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
    if private:
        folder.chmod(0o700)  # also a folder made before this rule
    path = folder / filename
    tmp = path.with_suffix(".tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(tmp, path)
    return path


# --- documents: certificates a business sends to be verified --------------------------------

MAX_DOCUMENT_PAGES = 10
DOCUMENT_DPI = 150  # enough to read a certificate's seal, signature and small print
MAX_DOCUMENT_PAGE_SIDE = 3508  # pixels: A3 at 150 dpi; larger pages are rendered smaller
MAX_DOCUMENT_PAGE_PIXELS = 9_000_000
MAX_DOCUMENT_IMAGE_SIDE = 2400  # a photographed certificate, scaled down to this


@dataclass(frozen=True)
class StoredDocument:
    filename: str
    kind: str  # "pdf" (re-made from page images) or "image" (re-encoded)
    pages: int


def store_document(data: bytes, folder: Path, *, field: str, max_bytes: int) -> StoredDocument:
    """A certificate as a PDF or a photo, never stored as uploaded: an image is re-encoded
    as :func:`store_image` does; a PDF (not protected by a password, at most
    ``MAX_DOCUMENT_PAGES`` pages) is rendered at about 150 dpi and stored as a new PDF
    made of those page images."""
    if not data:
        raise ValidationError(N_("choose a PDF or an image file"), field=field)
    if len(data) > max_bytes:
        raise ValidationError(
            N_("the file is too large: at most %(limit)s MB"),
            field=field,
            limit=max_bytes // (1024 * 1024),
        )
    if b"%PDF-" in data[:1024]:  # where PDF readers look for the header
        pdf, pages = _remade_pdf(data, field)
        return StoredDocument(_write(folder, "pdf", pdf), "pdf", pages)
    try:
        image = store_image(
            data, folder, field=field, max_bytes=max_bytes, max_side=MAX_DOCUMENT_IMAGE_SIDE
        )
    except ValidationError as error:
        if error.template in (
            "upload a PNG, JPEG or WebP image",
            "the file is not an image TraceQR can read",
        ):
            raise ValidationError(
                N_("upload a PDF, or a PNG, JPEG or WebP image"), field=field
            ) from error
        raise
    return StoredDocument(image.filename, "image", 1)


def _remade_pdf(data: bytes, field: str) -> tuple[bytes, int]:
    """The pages of a PDF rendered as JPEG images, in a PDF of their own."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    from traceqr.domain.sheet import PDFIUM_LOCK  # one lock for every PDFium call

    unreadable = ValidationError(N_("the PDF is damaged: TraceQR cannot read it"), field=field)
    out = io.BytesIO()
    canvas = Canvas(out, invariant=True, pageCompression=0)
    canvas.setTitle("")
    canvas.setAuthor("")
    canvas.setCreator("TraceQR")
    canvas.setProducer("TraceQR")
    with PDFIUM_LOCK:
        try:
            document = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            if getattr(exc, "err_code", None) in (
                pdfium_c.FPDF_ERR_PASSWORD,
                pdfium_c.FPDF_ERR_SECURITY,
            ):
                raise ValidationError(
                    N_("the PDF is protected by a password: upload a copy without one"),
                    field=field,
                ) from exc
            raise unreadable from exc
        try:
            count = len(document)
            if count == 0:
                raise unreadable
            if count > MAX_DOCUMENT_PAGES:
                raise ValidationError(
                    N_("the PDF has %(pages)s pages: at most %(limit)s"),
                    field=field,
                    pages=count,
                    limit=MAX_DOCUMENT_PAGES,
                )
            for index in range(count):
                page = document[index]
                try:
                    jpeg, size = _page_jpeg(page, pdfium_c.FPDF_PAGEOBJ_IMAGE, unreadable)
                finally:
                    page.close()
                canvas.setPageSize(size)
                canvas.drawImage(ImageReader(io.BytesIO(jpeg)), 0, 0, *size)
                canvas.showPage()
        except (pypdfium2.PdfiumError, ValueError, OSError) as exc:  # a page PDFium balks at
            raise unreadable from exc
        finally:
            document.close()
    canvas.save()
    return out.getvalue(), count


def _page_jpeg(
    page: object, image_type: int, unreadable: ValidationError
) -> tuple[bytes, tuple[float, float]]:
    """One page as a JPEG, and its size in points as it is seen (PDFium turns a rotated
    page's size and drawing alike)."""
    width, height = page.get_size()  # type: ignore[attr-defined]
    if not (width >= 1 and height >= 1 and math.isfinite(width * height)):
        raise unreadable
    # An image inside the page is decoded whole before it is drawn: refuse bombs first.
    for found in page.get_objects(filter=[image_type]):  # type: ignore[attr-defined]
        image_width, image_height = found.get_px_size()
        if image_width * image_height > MAX_PIXELS:
            raise ValidationError(
                N_("the PDF holds an image with too many pixels"), field=unreadable.field
            )
    scale = min(
        DOCUMENT_DPI / 72,
        MAX_DOCUMENT_PAGE_SIDE / max(width, height),
        math.sqrt(MAX_DOCUMENT_PAGE_PIXELS / (width * height)),
    )
    bitmap = page.render(  # type: ignore[attr-defined]
        scale=scale, may_draw_forms=False, fill_color=(255, 255, 255, 255)
    )
    try:
        image = bitmap.to_pil().convert("RGB")
    finally:
        bitmap.close()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue(), (width, height)


def safe_upload_path(folder: Path, filename: str) -> Path | None:
    """The stored file for a public name, or None: names are ours, never paths."""
    if not filename or set(filename) - FILENAME_CHARS or filename.count(".") != 1:
        return None
    path = folder / filename
    return path if path.is_file() else None


def private_folder(uploads: Path) -> Path:
    """Where shoppers' report photos and inspectors' case photos go: never served at
    /media, only through views that check who is asking."""
    return uploads / PRIVATE_FOLDER


def stored_private_upload(uploads: Path, filename: str | None) -> Path | None:
    """A private upload by its stored name; one stored before private uploads existed
    is still found among the public ones."""
    if not filename:
        return None
    return safe_upload_path(private_folder(uploads), filename) or safe_upload_path(
        uploads, filename
    )


def stored_document(uploads: Path, filename: str | None) -> Path | None:
    """A certificate stored by :func:`store_document`: always among the private uploads."""
    if not filename:
        return None
    return safe_upload_path(private_folder(uploads), filename)


def document_page_count(path: Path) -> int:
    """How many pages a stored document has (an image is one)."""
    if path.suffix != ".pdf":
        return 1
    import pypdfium2

    from traceqr.domain.sheet import PDFIUM_LOCK

    with PDFIUM_LOCK:
        document = pypdfium2.PdfDocument(path)
        try:
            return len(document)
        finally:
            document.close()


def document_page_jpeg(path: Path, page_number: int, dpi: int = 100) -> bytes | None:
    """Page ``page_number`` (from 1) of a stored PDF document as a JPEG, for a reviewer to
    read in the page; None if there is no such page. Stored documents are TraceQR's own
    PDFs of page images (:func:`store_document`)."""
    import pypdfium2

    from traceqr.domain.sheet import PDFIUM_LOCK

    with PDFIUM_LOCK:
        document = pypdfium2.PdfDocument(path)
        try:
            if not 1 <= page_number <= len(document):
                return None
            page = document[page_number - 1]
            try:
                width, height = page.get_size()
                scale = min(dpi / 72, MAX_DOCUMENT_PAGE_SIDE / max(width, height, 1))
                bitmap = page.render(scale=scale, may_draw_forms=False)
                image = bitmap.to_pil().convert("RGB")
                bitmap.close()
            finally:
                page.close()
        finally:
            document.close()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()
