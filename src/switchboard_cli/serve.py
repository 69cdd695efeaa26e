"""`switchboard up` (all services, one process) and `switchboard serve NAME`."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError
from switchboard_core import telemetry
from switchboard_core.logs import configure_logging
from switchboard_core.security.private_files import tighten_data_dir
from switchboard_core.security.sealing import SealError
from switchboard_core.service import Host
from switchboard_core.settings import MissingInternalToken, ServiceSettings

from switchboard_cli.catalog import BUILDERS

logger = logging.getLogger(__name__)


def run(names: list[str]) -> int:
    try:
        settings = ServiceSettings()
        settings.internal_credential()
    except (ValidationError, MissingInternalToken) as exc:
        print(f"switchboard: {_settings_problem(exc)}", file=sys.stderr, flush=True)
        return 2
    configure_logging(
        level=settings.log_level,
        log_format=settings.log_format,
        service=",".join(names),
        replica=settings.replica,
        access_log=settings.access_log,
    )
    tighten_data_dir(settings.data_dir)
    if "auth" in names:
        try:
            _auth_can_seal_its_keys()
        except (ValidationError, SealError) as exc:
            print(f"switchboard: {_settings_problem(exc)}", file=sys.stderr, flush=True)
            return 2
    provider = telemetry.configure("switchboard" if len(names) > 1 else f"switchboard-{names[0]}")
    services = [BUILDERS[name]() for name in names]
    title = "Switchboard" if len(names) > 1 else f"Switchboard {names[0]}"
    host = Host(settings, services, title=title)
    on_ready = _banner if len(names) > 1 else _one_line
    try:
        asyncio.run(host.serve_forever(on_ready=on_ready))
    except KeyboardInterrupt:
        pass
    finally:
        telemetry.shutdown(provider)
    if len(names) > 1:
        print("Switchboard stopped.", flush=True)
    else:  # one service: a container's or the stack's, whose output is the JSON log
        logger.info("Switchboard stopped.")
    return 0


def _auth_can_seal_its_keys() -> None:
    """Refuse at once, not from inside the started service, when auth would have to store
    a signing key and has nothing to seal it with."""
    from switchboard_auth.settings import AuthSettings
    from switchboard_auth.startup import sealing_keys

    sealing_keys(AuthSettings())


def _settings_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"SWITCHBOARD_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
    return str(exc)


def _base_url(host: Host) -> str:
    s = host.settings
    shown = "127.0.0.1" if s.http_host in ("0.0.0.0", "::") else s.http_host
    return f"http://{shown}:{s.http_port}"


def _banner(host: Host) -> None:
    base = _base_url(host)
    print(
        f"""
Switchboard is up (embedded: auth, registry, metrics and mcp-proxy in one process)
  MCP endpoint     {base}/mcp   (one virtual server: {base}/servers/<id>/mcp)
  Admin API        {base}/gateways, /servers, /tools, /metrics/tools, /auth/...
  API docs         {base}/docs
  gRPC             {host.settings.grpc_host}:{host.grpc_port}
  Data             {host.settings.data_dir.resolve()}
  Get a token      uv run switchboard token create --email {_admin_email()}
Press Ctrl-C to stop.
""",
        flush=True,
    )


def _one_line(host: Host) -> None:
    """A log line, not a print: one service runs in a container or the stack, where every
    line of the output should be a JSON event."""
    names = ", ".join(s.name for s in host.services)
    logger.info(
        "Switchboard %s serving HTTP on %s and gRPC on port %d", names, _base_url(host), host.grpc_port
    )


def _admin_email() -> str:
    from switchboard_auth.settings import AuthSettings

    return AuthSettings().bootstrap_admin_email
