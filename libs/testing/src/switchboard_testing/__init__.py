"""Test harness for Switchboard: fixture upstream MCP servers, official-SDK clients, pytest plugin.

The pytest plugin (`switchboard_testing.plugin`) is loaded automatically through its
`pytest11` entry point. Importing this package does not import the MCP SDK.
"""

from switchboard_testing.errors import HarnessError, ProcessStartError, SdkClientError
from switchboard_testing.ports import free_port
from switchboard_testing.readiness import wait_until_http_ok
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

__all__ = [
    "HarnessError",
    "ProcessStartError",
    "SdkClientError",
    "UpstreamProcess",
    "free_port",
    "start_upstream",
    "wait_until_http_ok",
]
