#!/usr/bin/env python3
"""Draws the README's crude example sketches (static/sketches/*.png, 256×256) the way the page's
sketch canvas does: filled backgrounds and round-brush strokes between points. Pure standard
library, so it runs anywhere; the drawings are a2x's own (same licence as the project).

    python3 scripts/sketches.py static/sketches
"""
import struct
import sys
import zlib

SIDE = 256


def png(path, pixels):
    raw = b''.join(b'\x00' + bytes(v for p in row for v in p) for row in pixels)
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', SIDE, SIDE, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def canvas(colour):
    return [[colour] * SIDE for _ in range(SIDE)]


def band(img, top, bottom, colour):
    """Rows [top, bottom) in 32-px units (×8 on the canvas)."""
    for y in range(int(top * 8), min(SIDE, int(bottom * 8))):
        img[y] = [colour] * SIDE


def stroke(img, points, radius, colour):
    """A round brush through `points` (32-px units), as src/drawing.rs paints a segment."""
    pts = [(x * 8, y * 8) for x, y in points]
    r = radius * 8
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] or pts):
        dx, dy = x1 - x0, y1 - y0
        length_sq = dx * dx + dy * dy
        for y in range(max(0, int(min(y0, y1) - r)), min(SIDE, int(max(y0, y1) + r) + 1)):
            for x in range(max(0, int(min(x0, x1) - r)), min(SIDE, int(max(x0, x1) + r) + 1)):
                px, py = x + 0.5, y + 0.5
                t = 0.0 if length_sq == 0 else max(0.0, min(1.0, ((px - x0) * dx + (py - y0) * dy) / length_sq))
                nx, ny = x0 + t * dx, y0 + t * dy
                if (px - nx) ** 2 + (py - ny) ** 2 <= r * r:
                    img[y][x] = colour


SKY, SEA, GRASS, ROAD = (150, 195, 235), (40, 90, 150), (60, 130, 50), (110, 110, 115)


def ship():
    img = canvas(SKY)
    band(img, 17.5, 32, SEA)
    stroke(img, [(6, 19), (26, 19)], 2.2, (60, 60, 70))
    stroke(img, [(9, 21), (23, 21)], 1.6, (60, 60, 70))
    stroke(img, [(12, 15.5), (20, 15.5)], 1.5, (235, 235, 235))
    stroke(img, [(16, 8), (16, 14)], 0.5, (90, 70, 50))
    return img


def airplane():
    img = canvas(SKY)
    stroke(img, [(5, 16), (27, 16)], 1.8, (200, 200, 205))      # fuselage
    stroke(img, [(13, 16), (9, 7)], 1.4, (170, 170, 180))       # wings
    stroke(img, [(13, 16), (9, 25)], 1.4, (170, 170, 180))
    stroke(img, [(25, 16), (27, 11)], 1.0, (170, 170, 180))     # tail
    return img


def automobile():
    img = canvas((200, 215, 225))
    band(img, 22, 32, ROAD)
    stroke(img, [(6, 18), (26, 18)], 3.0, (200, 30, 30))        # body
    stroke(img, [(11, 14), (20, 14)], 2.2, (200, 30, 30))       # cabin
    stroke(img, [(12, 14), (19, 14)], 1.2, (170, 210, 235))     # windows
    stroke(img, [(10, 22), (10, 22)], 2.4, (20, 20, 20))        # wheels
    stroke(img, [(22, 22), (22, 22)], 2.4, (20, 20, 20))
    return img


def frog():
    img = canvas((120, 95, 60))
    stroke(img, [(10, 19), (22, 19)], 6.0, (70, 150, 40))       # body
    stroke(img, [(12, 11), (12, 11)], 2.2, (70, 150, 40))       # eyes
    stroke(img, [(20, 11), (20, 11)], 2.2, (70, 150, 40))
    stroke(img, [(12, 11), (12, 11)], 1.0, (20, 20, 20))
    stroke(img, [(20, 11), (20, 11)], 1.0, (20, 20, 20))
    stroke(img, [(5, 26), (9, 22)], 1.5, (70, 150, 40))         # legs
    stroke(img, [(27, 26), (23, 22)], 1.5, (70, 150, 40))
    return img


if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else 'static/sketches'
    for name, draw in [('ship', ship), ('airplane', airplane), ('automobile', automobile), ('frog', frog)]:
        png(f'{out}/{name}.png', draw())
        print(f'{out}/{name}.png')
