"""One gRPC channel per peer address, shared by every client in the process; every
call on them carries the deployment's internal token.

Calls are spread over all of a peer's replicas (`round_robin` over what DNS returns;
docs/internal-grpc.md): behind one address a plain channel would keep every call on the
one connection it opened first, so replicas an autoscaler adds would get none."""

from __future__ import annotations

import json
from dataclasses import dataclass

import grpc

from switchboard_core.grpc.interceptors import client_interceptors
from switchboard_core.grpc.metered import metered_client_interceptors
from switchboard_core.grpc.server import MAX_MESSAGE_BYTES
from switchboard_core.grpc.targets import channel_target

_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
# gRPC's own defaults, kept unless the connection age is shorter.
_RESOLUTION_INTERVAL_MS = 30_000
_INITIAL_BACKOFF_MS = 1_000
_MAX_BACKOFF_MS = 120_000


@dataclass(frozen=True, slots=True)
class Balancing:
    """How a client finds its peers' replicas again: the servers' maximum connection age
    (`SWITCHBOARD_GRPC_MAX_CONNECTION_AGE_S`, one value for the deployment)."""

    connection_age_s: float = 600.0

    def options(self) -> list[tuple[str, int | str]]:
        age_ms = max(1, int(self.connection_age_s * 1000))
        return [
            ("grpc.service_config", _SERVICE_CONFIG),
            # A policy from DNS TXT records must not replace ours.
            ("grpc.service_config_disable_resolution", 1),
            # A connection told to go away makes the channel resolve again, but gRPC
            # waits this long after the previous resolution (30 s by default): kept
            # within the age, a replica added to DNS gets calls within one age (+10 %
            # jitter) of joining.
            ("grpc.dns_min_time_between_resolutions_ms", min(_RESOLUTION_INTERVAL_MS, age_ms)),
            # An address DNS had already (a replica restarted in place, `localhost`'s
            # ::1 before its replica listens) is retried after a backoff that grows to
            # 2 min; bounded by the age, it joins as soon as a new one would.
            ("grpc.initial_reconnect_backoff_ms", min(_INITIAL_BACKOFF_MS, age_ms)),
            ("grpc.max_reconnect_backoff_ms", min(_MAX_BACKOFF_MS, age_ms)),
        ]


class Channels:
    def __init__(self, internal_token: str, *, balancing: Balancing = Balancing()) -> None:
        self._internal_token = internal_token
        self._options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Pings while calls are open (a feed, the metrics stream) find a replica that
            # vanished without closing its connections (a lost node) within 40 s; the
            # servers accept pings every 10 s.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.enable_retries", 1),
            *balancing.options(),
        ]
        self._by_addr: dict[str, grpc.aio.Channel] = {}

    def get(self, addr: str) -> grpc.aio.Channel:
        channel = self._by_addr.get(addr)
        if channel is None:
            channel = grpc.aio.insecure_channel(
                channel_target(addr),
                interceptors=[*metered_client_interceptors(), *client_interceptors(self._internal_token)],
                options=self._options,
            )
            self._by_addr[addr] = channel
        return channel

    async def close(self) -> None:
        for channel in self._by_addr.values():
            await channel.close()
        self._by_addr.clear()
