"""Photos and forms for intake tests (generated here; nothing downloaded)."""

from __future__ import annotations

import io
import random

from PIL import Image

from mi_portal.services.images import ProcessedImage, process_image
from mi_portal.services.intake import IntakeForm


def jpeg_bytes(seed: int = 1, size: tuple[int, int] = (640, 480)) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    for _ in range(20):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        image.paste((rng.randrange(256), 0, 0), (x, y, min(size[0], x + 40), min(size[1], y + 40)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def photos(n: int = 2) -> list[ProcessedImage]:
    return [process_image(jpeg_bytes(i), f"photo-{i}.jpg") for i in range(n)]


def form(**overrides: object) -> IntakeForm:
    values: dict[str, object] = {
        "full_name": "Robin Patient",
        "email": "robin@example.org",
        "phone": "+1 202 555 0100",
        "date_of_birth": "1990-04-02",
        "concern_area": "acne",
        "answers": {"how_long": "months", "goal": "clear skin", "not_a_question": "dropped"},
        "privacy_ack": True,
        "sms_opt_in": True,
        "marketing_opt_in": False,
    }
    values.update(overrides)
    return IntakeForm(**values)  # type: ignore[arg-type]
