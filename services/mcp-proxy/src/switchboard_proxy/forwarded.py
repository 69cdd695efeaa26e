"""Who the client is and which URL it used: moved to `switchboard_core.http.forwarded`
(the auth service needs it too, for its authorization-server metadata)."""

from switchboard_core.http.forwarded import IPAddress, ProxyTrust, parse_address

__all__ = ["IPAddress", "ProxyTrust", "parse_address"]
