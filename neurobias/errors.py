"""The package's user-facing error type, importable from anywhere without import cycles."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A configuration value is invalid; the message is one line meant for a user."""
