"""The leaderboard as a PNG image (Pillow), plus the plain-text summary that goes with it as alt text.

Pure: rows in, bytes out. CPU-bound, so the cog calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

WIDTH = 720
ROW_HEIGHT = 40
HEADER_HEIGHT = 86
FOOTER_HEIGHT = 34
BACKGROUND = (30, 31, 34)
PANEL = (43, 45, 49)
TEXT = (235, 236, 240)
MUTED = (160, 164, 172)
BAR = (88, 101, 242)
MEDALS = {1: (255, 200, 60), 2: (200, 205, 215), 3: (205, 127, 50)}


@dataclass(frozen=True)
class Row:
    rank: int
    name: str
    points: int


# DejaVu covers far more scripts than Pillow's bundled font; it is used when the system has it.
SYSTEM_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf")


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in SYSTEM_FONTS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _fit(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int
) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def render_leaderboard(title: str, subtitle: str, rows: Sequence[Row], footer: str = "") -> bytes:
    height = HEADER_HEIGHT + max(1, len(rows)) * ROW_HEIGHT + FOOTER_HEIGHT
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    big, normal, small = _font(26), _font(19), _font(14)
    draw.text((24, 16), _fit(draw, title, big, WIDTH - 48), font=big, fill=TEXT)
    draw.text((24, 54), _fit(draw, subtitle, small, WIDTH - 48), font=small, fill=MUTED)
    if not rows:
        draw.text((24, HEADER_HEIGHT + 8), "No points yet in this window.", font=normal, fill=MUTED)
    top = max((r.points for r in rows), default=1) or 1
    for i, row in enumerate(rows):
        y = HEADER_HEIGHT + i * ROW_HEIGHT
        if i % 2 == 0:
            draw.rectangle((12, y, WIDTH - 12, y + ROW_HEIGHT - 2), fill=PANEL)
        colour = MEDALS.get(row.rank, MUTED)
        draw.text((24, y + 9), f"#{row.rank}", font=normal, fill=colour)
        draw.text((96, y + 9), _fit(draw, row.name, normal, 330), font=normal, fill=TEXT)
        bar = int(170 * max(0, row.points) / top)
        draw.rectangle((440, y + 12, 440 + max(bar, 2), y + ROW_HEIGHT - 14), fill=BAR)
        points = f"{row.points:,}"
        draw.text((WIDTH - 24 - draw.textlength(points, font=normal), y + 9), points, font=normal, fill=TEXT)
    if footer:
        draw.text((24, height - FOOTER_HEIGHT + 8), _fit(draw, footer, small, WIDTH - 48), font=small, fill=MUTED)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def alt_text(title: str, rows: Sequence[Row], limit: int = 1000) -> str:
    """A screen-reader summary of the image (Discord allows 1024 characters of attachment description)."""
    if not rows:
        return f"{title}: no points yet."
    text = f"{title}: " + "; ".join(f"{r.rank}. {r.name}, {r.points} points" for r in rows) + "."
    return text if len(text) <= limit else text[: limit - 1] + "…"
