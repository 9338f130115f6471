"""Draw QR codes (qrcode + Pillow) and read them back from photos (zxing-cpp)."""

from __future__ import annotations

import io
from functools import lru_cache

import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M


@lru_cache(maxsize=512)
def qr_png(text: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """A PNG of `text` as a QR code, large enough for a phone camera across a counter."""
    # A fixed mask skips qrcode's search for the "best" of eight masks (most of its CPU);
    # every mask is valid and phone cameras read them all.
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border, mask_pattern=2)
    code.add_data(text)
    code.make(fit=True)
    # One pixel per module (1 = dark, border included), then scaled up: much cheaper than
    # qrcode's drawing of every module as a rectangle. Light zlib: the PNG is ~1.3 kB anyway.
    matrix = code.get_matrix()
    size = len(matrix)
    modules = Image.frombytes("L", (size, size), b"".join(bytes(row) for row in matrix))
    image = modules.point(lambda dark: 0 if dark else 255, mode="1").resize(
        (size * box_size, size * box_size), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def decode_qr(image_bytes: bytes) -> list[str]:
    """Every QR code text found in an image (a photo of a screen or a print); empty if none."""
    import zxingcpp  # imported lazily: only photo decoding needs it
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            image.load()
            results = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    except (UnidentifiedImageError, OSError, ValueError):
        return []
    return [result.text for result in results if result.valid and result.text]
