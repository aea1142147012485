"""One TLS context for every HTTP client of the process. Building one loads the CA bundle, which costs
~10 ms of CPU: with a client per session step that was half of a step's time (bench/scale.py, py-spy)."""

from __future__ import annotations

import functools
import os
import ssl

import certifi


@functools.cache
def client_tls() -> ssl.SSLContext:
    """Verifies servers against SSL_CERT_FILE when set (as httpx does), else certifi's bundle."""
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where())
