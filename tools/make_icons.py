"""Draw the app's icons (PNG and SVG) without an image library: ``python -m tools.make_icons``.

A phone with a tick on a green ground. Each shape is a signed distance function; a pixel's
coverage is its distance to the edge clamped to one pixel, which anti-aliases without
supersampling. The PNGs are written with zlib alone. Run again after changing a shape.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "fieldteam" / "static" / "web" / "icons"
GREEN = (11, 110, 79)
WHITE = (255, 255, 255)
UNIT = 512.0  # the drawing's own coordinates

# The drawing, in a 512 x 512 box: (shape, colour), painted in order.
PHONE = (166.0, 104.0, 346.0, 424.0, 34.0)  # x0, y0, x1, y1, corner radius
SCREEN = (186.0, 138.0, 326.0, 372.0, 10.0)
BUTTON = (256.0, 398.0, 12.0)  # cx, cy, r
TICK = ((214.0, 258.0), (246.0, 292.0), (300.0, 220.0))
TICK_WIDTH = 24.0


def _rounded_rect(x: float, y: float, box: tuple[float, float, float, float, float]) -> float:
    x0, y0, x1, y1, r = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hx, hy = (x1 - x0) / 2 - r, (y1 - y0) / 2 - r
    dx, dy = abs(x - cx) - hx, abs(y - cy) - hy
    outside = math.hypot(max(dx, 0.0), max(dy, 0.0))
    return outside + min(max(dx, dy), 0.0) - r


def _segment(x: float, y: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    bx, by = b
    px, py, vx, vy = x - ax, y - ay, bx - ax, by - ay
    t = max(0.0, min(1.0, (px * vx + py * vy) / (vx * vx + vy * vy)))
    return math.hypot(px - t * vx, py - t * vy)


def _shapes(background_radius: float) -> list[tuple[Callable[[float, float], float], tuple[int, int, int]]]:
    return [
        (lambda x, y: _rounded_rect(x, y, (0.0, 0.0, UNIT, UNIT, background_radius)), GREEN),
        (lambda x, y: _rounded_rect(x, y, PHONE), WHITE),
        (lambda x, y: _rounded_rect(x, y, SCREEN), GREEN),
        (lambda x, y: math.hypot(x - BUTTON[0], y - BUTTON[1]) - BUTTON[2], GREEN),
        (
            lambda x, y: min(_segment(x, y, TICK[0], TICK[1]), _segment(x, y, TICK[1], TICK[2])) - TICK_WIDTH / 2,
            WHITE,
        ),
    ]


def render(size: int, *, maskable: bool = False) -> bytes:
    """RGBA pixels of the icon at ``size`` px; a maskable icon fills the square, content in the safe zone."""
    shapes = _shapes(0.0 if maskable else 96.0)
    content_scale = 0.8 if maskable else 1.0
    scale = UNIT / size
    rows = bytearray()
    for j in range(size):
        rows.append(0)  # PNG filter type: none
        for i in range(size):
            x, y = (i + 0.5) * scale, (j + 0.5) * scale
            red = green = blue = alpha = 0.0
            for index, (distance, colour) in enumerate(shapes):
                if index and maskable:  # shrink the drawing around the centre, keep the ground
                    sx, sy = (x - UNIT / 2) / content_scale + UNIT / 2, (y - UNIT / 2) / content_scale + UNIT / 2
                    cover = max(0.0, min(1.0, 0.5 - distance(sx, sy) * content_scale / scale))
                else:
                    cover = max(0.0, min(1.0, 0.5 - distance(x, y) / scale))
                if cover:
                    red = red * (1 - cover) + colour[0] * cover
                    green = green * (1 - cover) + colour[1] * cover
                    blue = blue * (1 - cover) + colour[2] * cover
                    alpha = alpha * (1 - cover) + 255 * cover
            if alpha:
                # Colours were blended premultiplied by coverage; undo that for PNG's straight alpha.
                factor = 255 / alpha
                red, green, blue = red * factor, green * factor, blue * factor
            rows += bytes((round(min(red, 255)), round(min(green, 255)), round(min(blue, 255)), round(alpha)))
    return bytes(rows)


def png(size: int, pixels: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels, 9)) + chunk(b"IEND", b"")
    )


def svg() -> str:
    (x0, y0, x1, y1, r), (s0, t0, s1, t1, q) = PHONE, SCREEN
    (a, b), (c, d), (e, f) = TICK
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">'
        f'<rect width="512" height="512" rx="96" fill="#0b6e4f"/>'
        f'<rect x="{x0:g}" y="{y0:g}" width="{x1 - x0:g}" height="{y1 - y0:g}" rx="{r:g}" fill="#fff"/>'
        f'<rect x="{s0:g}" y="{t0:g}" width="{s1 - s0:g}" height="{t1 - t0:g}" rx="{q:g}" fill="#0b6e4f"/>'
        f'<circle cx="{BUTTON[0]:g}" cy="{BUTTON[1]:g}" r="{BUTTON[2]:g}" fill="#0b6e4f"/>'
        f'<path d="M{a:g} {b:g}L{c:g} {d:g}L{e:g} {f:g}" fill="none" stroke="#fff" stroke-width="{TICK_WIDTH:g}" '
        'stroke-linecap="round" stroke-linejoin="round"/></svg>\n'
    )


def ico(images: list[tuple[int, bytes]]) -> bytes:
    """A Windows icon holding PNG images (read by every current browser), for ``/favicon.ico``."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, data = b"", b""
    for size, image in images:
        # Width and height 0 mean 256; 1 plane, 32 bits per pixel.
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), offset + len(data))
        data += image
    return header + entries + data


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon.svg").write_text(svg())
    (OUT / "favicon.ico").write_bytes(ico([(size, png(size, render(size))) for size in (16, 32, 48)]))
    for name, size, maskable in [
        ("icon-192.png", 192, False),
        ("icon-512.png", 512, False),
        ("maskable-512.png", 512, True),
    ]:
        (OUT / name).write_bytes(png(size, render(size, maskable=maskable)))


if __name__ == "__main__":
    main()
