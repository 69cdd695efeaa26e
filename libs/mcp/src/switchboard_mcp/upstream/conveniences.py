"""Calls every upstream transport offers on top of its own `request()`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchboard_core.errors import UpstreamError

MAX_PAGES = 1000


class UpstreamConveniences:
    url: str

    async def request(
        self, method: str, params: dict | None = None, *, extra_headers: Mapping[str, str] | None = None
    ) -> Any:
        raise NotImplementedError

    async def list_tools(self) -> list[dict]:
        return await self.list_all("tools/list", "tools")

    async def list_all(self, method: str, key: str) -> list[dict]:
        """Every item of a paginated list method (`tools/list` → `tools`, ...)."""
        items: list[dict] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await self.request(method, {"cursor": cursor} if cursor else {})
            items.extend(page.get(key) or [])
            cursor = page.get("nextCursor")
            if not cursor:
                return items
        raise UpstreamError(f"{self.url} kept paginating {method} past {MAX_PAGES} pages")

    async def call_tool(
        self, name: str, arguments: Any, *, extra_headers: Mapping[str, str] | None = None
    ) -> dict:
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        return await self.request("tools/call", params, extra_headers=extra_headers)
