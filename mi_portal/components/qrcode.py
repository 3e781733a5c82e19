"""A QR code drawn in the browser by react-qr-code (from the npm registry)."""

from __future__ import annotations

import reflex as rx


class QRCode(rx.Component):
    library = "react-qr-code@2.2.0"
    tag = "QRCode"
    is_default = True

    value: rx.Var[str]
    size: rx.Var[int]


qr_code = QRCode.create
