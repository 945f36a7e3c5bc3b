"""API keys: from the environment or a .env file, never written anywhere."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlparse

# text shaped like a credential: a bearer or basic token, an sk-... key (OpenAI, OpenRouter,
# Anthropic), or the user:password of a URL
_SECRET_SHAPES = re.compile(
    r"(?i)((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}|\bsk-[A-Za-z0-9_-]{8,}|(\w+://)[^\s/:@]+:[^\s/@]+@"
)


def api_key_from(env_name: str | None, dotenv: Path = Path(".env")) -> str | None:
    if not env_name:
        return None
    if os.environ.get(env_name):
        return os.environ[env_name]
    if dotenv.is_file():
        for line in dotenv.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name.strip().removeprefix("export ").strip() == env_name:
                return value.strip().strip("'\"") or None
    return None


def is_loopback(url: str) -> bool:
    """True for servers on this machine, which usually need no API key."""
    host = (urlparse(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


def missing_api_key(base_url: str | None, api_key_env: str | None) -> bool:
    """True when a remote provider names a key variable that is set nowhere; a loopback
    server is called without a key instead."""
    if not base_url or not api_key_env or is_loopback(base_url):
        return False
    return api_key_from(api_key_env) is None


def redact(text: str, secrets=()) -> str:
    """text with every given secret value and anything shaped like a key replaced."""
    for secret in secrets:
        # as given, and without the line break a .env file or a paste may leave on it
        for form in sorted({secret or "", (secret or "").strip()}, key=len, reverse=True):
            if len(form) >= 4:
                text = text.replace(form, "[redacted]")
    return _SECRET_SHAPES.sub(
        lambda m: (m.group(1) or m.group(2) or "") + "[redacted]" + ("@" if m.group(2) else ""), text
    )
