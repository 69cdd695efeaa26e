"""Switchboard registry service: upstream gateways, their tools, virtual servers, the catalog."""

from switchboard_registry.service import RegistryService
from switchboard_registry.settings import RegistrySettings

__all__ = ["RegistryService", "RegistrySettings"]
