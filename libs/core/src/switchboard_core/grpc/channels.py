"""One gRPC channel per peer address, shared by every client in the process; every
call on them carries the deployment's internal token."""

from __future__ import annotations

import grpc

from switchboard_core.grpc.interceptors import client_interceptors
from switchboard_core.grpc.server import MAX_MESSAGE_BYTES


class Channels:
    def __init__(self, internal_token: str) -> None:
        self._internal_token = internal_token
        self._by_addr: dict[str, grpc.aio.Channel] = {}

    def get(self, addr: str) -> grpc.aio.Channel:
        channel = self._by_addr.get(addr)
        if channel is None:
            channel = grpc.aio.insecure_channel(
                addr,
                interceptors=client_interceptors(self._internal_token),
                options=[
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.keepalive_time_ms", 30_000),
                    ("grpc.enable_retries", 1),
                ],
            )
            self._by_addr[addr] = channel
        return channel

    async def close(self) -> None:
        for channel in self._by_addr.values():
            await channel.close()
        self._by_addr.clear()
