"""Reflex configuration: values come from mi_portal.config (environment variables MI_*)."""

import reflex as rx

from mi_portal.config import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="mi_portal",
    # Websocket events only from the portal's own origin, never "*".
    cors_allowed_origins=[_settings.frontend_origin],
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="teal", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
