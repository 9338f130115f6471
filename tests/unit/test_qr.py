"""QR codes drawn by `render.qr` decode (zxing-cpp) to exactly the text they were drawn from."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from loyaltybot.render.qr import decode_qr, qr_png

PAYLOAD = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=64)


@settings(max_examples=40, deadline=None)
@given(PAYLOAD)
def test_deep_links_round_trip(payload: str) -> None:
    link = f"https://t.me/loyalty_test_bot?start={payload}"
    assert decode_qr(qr_png.__wrapped__(link)) == [link]


def test_image_has_quiet_zone_and_whole_modules() -> None:
    png = qr_png.__wrapped__("https://t.me/loyalty_test_bot?start=m_abc", box_size=10, border=4)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width == height and width % 10 == 0
        # Four light modules of border all around; the top-left finder pattern starts after them.
        pixels = image.convert("L")
        assert all(pixels.getpixel((x, 5)) == 255 for x in range(width))
        assert pixels.getpixel((40, 40)) == 0 and pixels.getpixel((39, 39)) == 255


def test_not_a_qr_code_decodes_to_nothing() -> None:
    buffer = io.BytesIO()
    Image.new("L", (200, 200), 255).save(buffer, format="PNG")
    assert decode_qr(buffer.getvalue()) == []
    assert decode_qr(b"not an image") == []
