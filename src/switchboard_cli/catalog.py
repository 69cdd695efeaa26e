"""Which services exist and how to build each one from the environment."""

from __future__ import annotations

from collections.abc import Callable

from switchboard_core.service import Service


def _auth() -> Service:
    from switchboard_auth.service import AuthService
    from switchboard_auth.settings import AuthSettings

    return AuthService(AuthSettings())


def _registry() -> Service:
    from switchboard_registry.service import RegistryService
    from switchboard_registry.settings import RegistrySettings

    return RegistryService(RegistrySettings())


def _metrics() -> Service:
    from switchboard_metrics.service import MetricsService
    from switchboard_metrics.settings import MetricsSettings

    return MetricsService(MetricsSettings())


def _proxy() -> Service:
    from switchboard_proxy.service import ProxyService
    from switchboard_proxy.settings import ProxySettings

    return ProxyService(ProxySettings())


# Start order in embedded mode: the proxy last, so it drains first on shutdown.
BUILDERS: dict[str, Callable[[], Service]] = {
    "auth": _auth,
    "registry": _registry,
    "metrics": _metrics,
    "mcp-proxy": _proxy,
}
