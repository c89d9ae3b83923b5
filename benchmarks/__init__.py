"""Benchmarks of gemsdash against plain Dramatiq: scripts that print figures, run with `python -m benchmarks`."""
