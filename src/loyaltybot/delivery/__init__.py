"""Delivery: see DESIGN.md (filled in by the features that need it)."""
