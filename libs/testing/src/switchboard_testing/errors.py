"""Errors raised by the test harness itself (not by the code under test).

HarnessError
├── ProcessStartError   a child process (fixture upstream, gateway) never became ready
└── SdkClientError      an official-SDK client run failed (e.g. the 1.x subprocess)
"""

from __future__ import annotations


class HarnessError(RuntimeError):
    """Base of every error the harness raises."""


class ProcessStartError(HarnessError):
    """A child process exited or timed out before it answered."""


class SdkClientError(HarnessError):
    """An official-SDK client run failed; the message carries its output."""
