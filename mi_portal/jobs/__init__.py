"""Command-line entry points: they run the same services as the app."""
