"""The Reflex app: pages registered here, HTTP routes mounted from api/."""

import reflex as rx

from mi_portal.api.routes import api_app
from mi_portal.pages.index import index
from mi_portal.state.overview import OverviewState

app = rx.App(api_transformer=api_app)
app.add_page(index, route="/", title="MI Portal — Clinics", on_load=OverviewState.load)
