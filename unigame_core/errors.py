"""Errors a user can cause. The CLI prints them as one sentence and exits 2."""

from __future__ import annotations


class UnigameError(Exception):
    """Base class for user-facing errors: a clear sentence plus an optional hint."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"


class ConfigError(UnigameError):
    """A configuration key, value or file is wrong."""


class UnknownNameError(UnigameError):
    """A registry lookup failed (unknown model, suite, validator...)."""


class DataError(UnigameError):
    """A data file or folder is missing, unreadable or in the wrong layout."""


class PluginError(UnigameError):
    """A plugin is broken or registers something twice."""


class CapabilityError(UnigameError):
    """The selected backend cannot do what was asked (e.g. text-to-image)."""


class TrainingAborted(UnigameError):
    """Training stopped on purpose (too many non-finite losses in a row...)."""
