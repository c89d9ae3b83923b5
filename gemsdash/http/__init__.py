"""gemsdash's HTTP monitoring API and Prometheus metrics (`gemsdash serve`).

Reads and acts only through `gemsdash.queue`; it never talks to Redis itself.
"""

from gemsdash.http.app import create_app
from gemsdash.http.server import serve
from gemsdash.http.settings import HttpSettings, load_http_settings

__all__ = ["HttpSettings", "create_app", "load_http_settings", "serve"]
