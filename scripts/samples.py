#!/usr/bin/env python3
"""The wider set of bundled photos (issue #21): each source photo resized so its shorter side is
256 px (Lanczos) and saved as a JPEG (quality 90) under the id src/bundled.rs gives it.

    samples.py EXTRACTED_DIR OUT_DIR

EXTRACTED_DIR holds what scripts/samples.sh unpacked; static/samples/README.md names every photo's
author and licence.
"""
import os
import sys

from PIL import Image

SHORT_SIDE = 256
MATE = "deb/usr/share/backgrounds/mate/nature"
PLASMA = "deb/usr/share/wallpapers"

# id → file under EXTRACTED_DIR
PHOTOS = {
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "china": "china.jpg",
    "flower": "flower.jpg",
    "grace-hopper": "grace_hopper.jpg",
    **{name.lower(): f"{MATE}/{name}.jpg" for name in
       ["Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
        "TwoWings", "Wood", "YellowFlower"]},
    **{name.lower(): f"{PLASMA}/{name}/contents/images/1280x1024.jpg" for name in
       ["BytheWater", "ColdRipple", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite", "OneStandsOut",
        "Path", "summer_1am"]},
    "colorfulcups": f"{PLASMA}/ColorfulCups/contents/images/2560x1600.jpg",
}


def main(source, out):
    os.makedirs(out, exist_ok=True)
    for photo_id, path in sorted(PHOTOS.items()):
        image = Image.open(os.path.join(source, path)).convert("RGB")
        w, h = image.size
        scale = SHORT_SIDE / min(w, h)
        if scale < 1:
            image = image.resize((round(w * scale), round(h * scale)), Image.LANCZOS)
        target = os.path.join(out, f"{photo_id.replace('_', '-')}.jpg")
        image.save(target, "JPEG", quality=90, optimize=True)
        print(f"{target}: {image.size[0]}×{image.size[1]}, {os.path.getsize(target)} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
