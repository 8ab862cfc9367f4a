"""Hooks (scheduling, switching, export; no loss maths)."""
