"""The internal token on a real gRPC server and channel: sent first, accepted from a list,
so a deployment replaces it without a moment of refused calls."""

from __future__ import annotations

import grpc
import pytest
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.grpc import Channels, build_server
from switchboard_core.settings import ServiceSettings

OLD, NEW, OTHER = "o" * 32, "n" * 32, "x" * 32


class EmptyCatalogs(registry_pb2_grpc.RegistryServiceServicer):
    """An internal API answering every caller the interceptor lets through."""

    async def GetCatalog(self, request, context):
        return registry_pb2.Catalog(server_id="answered")


async def answers(server_setting: str, client_setting: str) -> bool:
    server, _health = build_server(server_setting)
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(EmptyCatalogs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels = Channels(client_setting)
    try:
        stub = registry_pb2_grpc.RegistryServiceStub(channels.get(f"127.0.0.1:{port}"))
        try:
            reply = await stub.GetCatalog(registry_pb2.GetCatalogRequest(), timeout=5)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
            return False
        return reply.server_id == "answered"
    finally:
        await channels.close()
        await server.stop(None)


@pytest.mark.parametrize(
    ("server", "client", "expected"),
    [
        (OLD, OLD, True),
        (OLD, OTHER, False),
        # Step 1, every replica: `old,new` sends old, accepts both.
        (f"{OLD},{NEW}", OLD, True),
        (OLD, f"{OLD},{NEW}", True),
        # Step 2: `new,old` sends new; replicas still at step 1 accept it.
        (f"{OLD},{NEW}", f"{NEW},{OLD}", True),
        (f"{NEW},{OLD}", f"{OLD},{NEW}", True),
        # Step 3: `new` alone; the old token is refused from then on.
        (NEW, f"{NEW},{OLD}", True),
        (NEW, OLD, False),
    ],
)
async def test_a_token_is_replaced_in_three_steps_without_a_refused_call(server, client, expected) -> None:
    assert await answers(server, client) is expected


@pytest.mark.parametrize("setting", ["short", f"{NEW},short", f",{NEW}"])
def test_every_listed_token_is_long_and_one_comes_first(setting: str) -> None:
    with pytest.raises(ValueError, match="SWITCHBOARD_INTERNAL_TOKEN"):
        ServiceSettings(internal_token=setting)
