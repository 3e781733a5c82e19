"""The clinic's branding on a patient page: its name, colour and logo address (nothing personal).

Filled on the server by the page's own load (from the address's slug or link), never from the
browser; it has no handlers of its own.
"""

from __future__ import annotations

import reflex as rx

from mi_portal.services.clinic_brand import Brand


class BrandState(rx.State):
    name: str = ""
    color: str = ""
    hover: str = ""
    logo_url: str = ""

    def _apply(self, brand: Brand) -> None:
        self.name, self.color, self.hover, self.logo_url = (
            brand.name,
            brand.color,
            brand.hover,
            brand.logo_url,
        )


async def show_brand(state: rx.State, brand: Brand) -> None:
    """Set the branding a patient page shows (the product's look for ``Brand()``)."""
    branding = await state.get_state(BrandState)
    branding._apply(brand)  # noqa: SLF001
