"""The gRPC target a channel dials for a configured peer address.

A bare `host:port` becomes `dns:///host:port`: gRPC's DNS resolver then hands the
channel every address the name has (each replica behind a Kubernetes headless Service,
each container of a Compose service, `localhost`'s 127.0.0.1 and ::1), and resolves
again when a connection is lost or told to go away, so replicas added later are found.
A target that names its resolver already is the operator's choice and is kept."""

from __future__ import annotations

# The resolvers grpc core ships; anything else before a colon is a host name.
_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")


def channel_target(addr: str) -> str:
    if addr.startswith(_SCHEMES):
        return addr
    return f"dns:///{addr}"
