"""gemsdash: Dramatiq job processing with a terminal dashboard."""

__version__ = "0.1.0"
