"""How much detail an image keeps: the measure the blur tests compare renditions by."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter, ImageStat


def detail(data: bytes) -> float:
    """Mean edge strength of the picture in grey (0 for a flat image)."""
    with Image.open(io.BytesIO(data)) as image:
        grey = image.convert("L")
    return float(ImageStat.Stat(grey.filter(ImageFilter.FIND_EDGES)).mean[0])


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute difference per channel of two same-size pictures (0…255)."""
    first, second = pixels(a), pixels(b)
    assert first.size == second.size
    diff = Image.frombytes(
        "L",
        first.size,
        bytes(
            abs(x - y)
            for x, y in zip(
                first.convert("L").tobytes(), second.convert("L").tobytes(), strict=True
            )
        ),
    )
    return float(ImageStat.Stat(diff).mean[0])


def detailed_jpeg(size: tuple[int, int] = (1200, 900)) -> bytes:
    """A photo full of edges: a fine checkerboard with a large disc on it."""
    from PIL import ImageDraw

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 40):
        for y in range(0, size[1], 40):
            if (x // 40 + y // 40) % 2:
                draw.rectangle((x, y, x + 39, y + 39), fill=(30, 30, 30))
    draw.ellipse(
        (size[0] // 4, size[1] // 5, size[0] * 3 // 4, size[1] * 4 // 5), fill=(200, 40, 40)
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()
