"""Security checks shared by every service: the outbound (SSRF) guard."""

from switchboard_core.security.outbound import (
    ALLOW_SETTING,
    LOOPBACK,
    OutboundPolicy,
    OutboundRefused,
    forbidden_kind,
)

__all__ = ["ALLOW_SETTING", "LOOPBACK", "OutboundPolicy", "OutboundRefused", "forbidden_kind"]
