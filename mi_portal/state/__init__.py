"""Reflex State classes: thin translators between UI events and services."""
