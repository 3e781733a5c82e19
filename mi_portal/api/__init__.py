"""HTTP routes the websocket cannot serve (file bytes, OAuth, intake posts, health)."""
