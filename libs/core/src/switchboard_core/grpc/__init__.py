"""gRPC server and channel helpers: tracing interceptors, error translation, health."""

from switchboard_core.grpc.channels import Channels
from switchboard_core.grpc.server import build_server

__all__ = ["Channels", "build_server"]
