"""Synthetic clinical-looking photos drawn with Pillow (nothing is downloaded)."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageFilter

SKIN_TONES = [(241, 194, 167), (224, 172, 138), (198, 134, 96), (141, 85, 54), (255, 219, 190)]


def demo_photo(
    rng: random.Random, concern_area: str, size: tuple[int, int] = (800, 600)
) -> Image.Image:
    """A soft skin-toned field with marks whose look depends on the concern area."""
    width, height = size
    base = rng.choice(SKIN_TONES)
    image = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(image)
    # Gentle lighting gradient.
    for y in range(0, height, 6):
        shade = int(18 * (y / height - 0.5))
        colour = tuple(max(0, min(255, c - shade)) for c in base)
        draw.rectangle([0, y, width, y + 6], fill=colour)
    marks = {"acne": 30, "pigmentation": 12, "hair_loss": 0, "teeth": 0}.get(concern_area, 8)
    for _ in range(marks):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randint(4, 26)
        tint = (min(255, base[0] + 10), max(0, base[1] - 60), max(0, base[2] - 60))
        if concern_area == "pigmentation":
            tint = (max(0, base[0] - 70), max(0, base[1] - 70), max(0, base[2] - 60))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tint)
    if concern_area == "hair_loss":
        for _ in range(900):
            x, y = rng.randrange(width), rng.randrange(height // 2)
            draw.line([x, y, x + rng.randint(-4, 4), y + rng.randint(8, 22)], fill=(60, 40, 30))
    if concern_area == "teeth":
        draw.rectangle([0, 0, width, height], fill=(150, 60, 70))
        for i in range(8):
            x0 = width // 10 + i * width // 10
            draw.rounded_rectangle(
                [x0, height // 3, x0 + width // 12, height * 2 // 3],
                radius=14,
                fill=(240, 236, 214 - rng.randint(0, 40)),
            )
    if concern_area == "body_contour":
        draw.ellipse(
            [width // 4, height // 6, width * 3 // 4, height * 5 // 6],
            outline=(120, 80, 60),
            width=5,
        )
    return image.filter(ImageFilter.GaussianBlur(radius=1.2))
