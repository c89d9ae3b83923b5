"""Importing what configuration names as `module:attribute` (job types, pluggable implementations)."""

from __future__ import annotations

import importlib
from typing import Any

from gemsdash.queue.errors import ConfigError


def import_attribute(spec: str) -> Any:
    """The attribute (None if the module has none), or ConfigError in one line if the module cannot
    be imported, whatever it raised (a module that calls `sys.exit` too: it would end the process
    with its own text, unnamed): a process cannot run with it. The caller names `spec`."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ConfigError:
        raise
    except (Exception, SystemExit) as exc:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise ConfigError(f"cannot import {module_name}: {detail}") from None
    return getattr(module, attribute, None)
