"""One exception root for everything supportbot raises on purpose.

Co-inheriting from the matching builtin lets callers that only know Python's
exceptions (``except ValueError``) still catch ours.
"""

from __future__ import annotations


class SupportbotError(Exception):
    """Root of every error supportbot raises deliberately; the CLI prints these without a traceback."""


class ConfigError(SupportbotError, ValueError):
    """A setting or a tenant file is wrong."""


class InputError(SupportbotError, ValueError):
    """User-provided data (a training file, a message) cannot be used."""


class AssetError(SupportbotError, RuntimeError):
    """A model, index or artifact is missing, corrupt or incompatible."""


class FetchError(AssetError):
    """A model package could not be downloaded or verified."""
