"""The four job types' actors. Importing this package configures the broker first (from the
environment, unless the composition root already did), so `dramatiq gemsdash.actors` works as a
worker command."""

from gemsdash.queue import current_runtime

current_runtime()

from gemsdash.actors import email, emotion, payment, sketch  # noqa: E402

__all__ = ["email", "emotion", "payment", "sketch"]
