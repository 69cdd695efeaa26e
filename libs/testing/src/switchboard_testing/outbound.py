"""The SSRF allow-list of every gateway the harness starts: the fixture upstreams run on
loopback, which a gateway refuses unless told otherwise (`SWITCHBOARD_OUTBOUND_ALLOW`)."""

from __future__ import annotations

from switchboard_core.security.outbound import ALLOW_SETTING, OutboundPolicy

OUTBOUND_ALLOW = "127.0.0.0/8,::1,localhost"
# For gateways in their own processes: added to their environment.
OUTBOUND_ENV = {ALLOW_SETTING: OUTBOUND_ALLOW}
# For upstream clients built in the test process.
LOOPBACK_ALLOWED = OutboundPolicy.parse(OUTBOUND_ALLOW.split(","))
