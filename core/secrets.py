"""Secrets generated once into ``EVIDENCE_HOME`` when the environment does not provide them."""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

from core.settings import Settings


def stored_secret(home: Path, name: str, generate: Callable[[], str]) -> str:
    """The secret in ``home/secrets/<name>``, generated on first use (owner-only file).

    Created with a hard link from a fully written temp file, so concurrent first users agree.
    """
    path = home / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(generate())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its secret
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def jwt_secret(settings: Settings) -> str:
    """``EVIDENCE_JWT_SECRET``, or the one generated into ``EVIDENCE_HOME``."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    return stored_secret(settings.home, "jwt_secret", lambda: secrets.token_urlsafe(48))


def webhook_secret(settings: Settings) -> str:
    """``EVIDENCE_WEBHOOK_SECRET`` (``whsec_<base64>``), or the one generated into ``EVIDENCE_HOME``."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    return stored_secret(
        settings.home, "webhook_secret", lambda: "whsec_" + base64.b64encode(os.urandom(32)).decode()
    )
