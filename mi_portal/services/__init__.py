"""Domain logic. Knows nothing of Reflex; every entry point takes an ``Actor``."""
