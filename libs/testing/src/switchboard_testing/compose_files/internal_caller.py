"""Run inside a switchboard container of a compose project (`python3 -c <this file>
TOKEN`): one long-lived internal gRPC client, built as the services build theirs
(`Channels` with the deployment's internal token and connection age, the addresses of
the container's environment), so its channels resolve the service names once and must
find replicas added later by themselves.

Each line read is a number N: N calls of the registry's GetCatalog and of auth's
Authenticate (TOKEN, a user's access token), one after the other; the answer is one JSON
line {"ok": {"registry": n, "auth": n}, "errors": [...]}. It ends with its input."""

import asyncio
import json
import os
import sys

import grpc
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.grpc import Channels
from switchboard_core.grpc.channels import Balancing


async def main(token: str) -> None:
    age_s = float(os.environ["SWITCHBOARD_GRPC_MAX_CONNECTION_AGE_S"])
    channels = Channels(os.environ["SWITCHBOARD_INTERNAL_TOKEN"], balancing=Balancing(age_s))
    registry = registry_pb2_grpc.RegistryServiceStub(channels.get(os.environ["SWITCHBOARD_REGISTRY_ADDR"]))
    auth = auth_pb2_grpc.AuthServiceStub(channels.get(os.environ["SWITCHBOARD_AUTH_ADDR"]))
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            ok = {"registry": 0, "auth": 0}
            errors = []
            for _ in range(int(line)):
                for name, call in (
                    ("registry", lambda: registry.GetCatalog(registry_pb2.GetCatalogRequest(), timeout=10)),
                    (
                        "auth",
                        lambda: auth.Authenticate(auth_pb2.AuthenticateRequest(token=token), timeout=10),
                    ),
                ):
                    try:
                        await call()
                    except grpc.aio.AioRpcError as exc:
                        errors.append(f"{name}: {exc.code().name} {exc.details()}")
                    else:
                        ok[name] += 1
            print(json.dumps({"ok": ok, "errors": errors}), flush=True)
    finally:
        await channels.close()


asyncio.run(main(sys.argv[1]))
