"""Widgets the screens are built from: the tables, the status line, the footer."""
