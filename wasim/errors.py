"""The one exception family that wasim raises; the CLI turns each into one red line.

WasimError                  exit 1 unless a subclass says otherwise
├── ConfigError             exit 2: bad option, malformed scenario, unreadable file
├── AuthError               a token or secret was refused
├── TargetError             exit 3: the target could not be reached or broke mid-run
│   └── ProtocolError       the target answered, but not the way the contract says
└── ThresholdError          exit 1: a benchmark threshold failed
"""

from __future__ import annotations


class WasimError(Exception):
    """Base of every error wasim raises on purpose."""

    exit_code = 1


class ConfigError(WasimError):
    """A user-supplied option, file or scenario is invalid."""

    exit_code = 2


class AuthError(WasimError):
    """A token or secret was refused by the target, or cannot be made."""


class TargetError(WasimError):
    """The target could not be reached, or went away mid-run."""

    exit_code = 3


class ProtocolError(TargetError):
    """The target answered, but not as the contract says it should."""


class ThresholdError(WasimError):
    """A benchmark threshold did not hold."""
