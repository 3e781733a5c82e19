"""Reflex configuration: values come from mi_portal.config (environment variables MI_*)."""

import os

import reflex as rx

from mi_portal.config import IDLE_TIMEOUT_SECONDS, get_settings

_settings = get_settings()

config = rx.Config(
    app_name="mi_portal",
    # Websocket events only from the portal's own origin, never "*".
    cors_allowed_origins=[_settings.frontend_origin],
    # UI state is kept in memory (one backend worker, the embedded default) or in Redis (several
    # workers), never pickled to disk: Reflex's default "disk" mode writes every tab's state,
    # patient details included, to .states/*.pkl. A tab's state expires no later than the idle
    # timeout of the sign-in session it served.
    state_manager_mode="redis" if os.environ.get("REFLEX_REDIS_URL") else "memory",
    redis_token_expiration=IDLE_TIMEOUT_SECONDS,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="teal", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
