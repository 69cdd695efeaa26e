"""Errors raised by the test harness itself (not by the code under test).

HarnessError
├── ProcessStartError   a child process (fixture upstream, gateway) never became ready
├── MissingBinary       a server binary the fixture needs (postgres, pgbouncer) is not installed
└── SdkClientError      an official-SDK client run failed (e.g. the 1.x subprocess)
"""

from __future__ import annotations


class HarnessError(RuntimeError):
    """Base of every error the harness raises."""


class ProcessStartError(HarnessError):
    """A child process exited or timed out before it answered."""


class MissingBinary(HarnessError):
    """A program the harness starts is not installed; the message says which and how to get it."""


class SdkClientError(HarnessError):
    """An official-SDK client run failed; the message carries its output."""
