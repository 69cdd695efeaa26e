"""How the registry reaches upstreams: the guarded HTTP clients, and each gateway's
credentials, sealed when stored and opened (only in memory) to talk to the upstream.

Only the sealed form and what may be shown (`public`: the type, user names, header
names, token URL, client id) are ever stored or handed out; a secret is never logged,
returned or recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

from switchboard_core.errors import UpstreamError
from switchboard_core.security.sealing import SealError, SecretKeys
from switchboard_mcp.upstream import Credentials, HttpClient, UpstreamClients, open_auth, seal_credentials
from switchboard_mcp.upstream.credentials import OAuth2

from switchboard_registry.domain.names import check_upstream_url


def public(credentials: Credentials) -> dict[str, Any]:
    """What of the credentials any API may show: their type and non-secret fields."""
    return {"type": credentials.kind, **credentials.public()}


class UpstreamAccess:
    def __init__(self, clients: UpstreamClients, keys: SecretKeys) -> None:
        self.clients = clients
        self.keys = keys

    def seal(self, credentials: Credentials, gateway_id: str) -> str:
        """Sealed for that gateway alone; InvalidInput (SealError) when no key is set."""
        if isinstance(credentials, OAuth2):
            check_upstream_url(credentials.token_url)
        return seal_credentials(credentials, gateway_id=gateway_id, keys=self.keys)

    def client(self, gateway_id: str, name: str, url: str, sealed: str) -> HttpClient:
        """The client to reach the gateway's upstream with, sending its credentials if it has any.

        Raises core `UpstreamError` naming the gateway and the key when they cannot be opened."""
        try:
            auth = open_auth(sealed, gateway_id=gateway_id, url=url, keys=self.keys)
        except SealError as exc:
            raise UpstreamError(
                f"the credentials of gateway {name!r} cannot be opened: {exc.message}"
            ) from exc
        return self.clients.client(auth)

    async def close(self) -> None:
        await self.clients.close()
