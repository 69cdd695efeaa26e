"""Admin commands that talk to a running gateway's REST API."""

from __future__ import annotations

import json
import os
import sys

import httpx

DEFAULT_URL = "http://127.0.0.1:4444"


class AdminClient:
    def __init__(self, url: str | None, token: str | None) -> None:
        self.url = (url or os.environ.get("SWITCHBOARD_URL") or DEFAULT_URL).rstrip("/")
        self.token = token or os.environ.get("SWITCHBOARD_TOKEN")
        if not self.token:
            raise SystemExit(
                "error: a token is needed: pass --token or set SWITCHBOARD_TOKEN (see 'switchboard token create')"
            )

    def call(self, method: str, path: str, body: dict | None = None) -> int:
        try:
            response = httpx.request(
                method,
                self.url + path,
                json=body,
                headers={"authorization": f"Bearer {self.token}"},
                timeout=60,
            )
        except httpx.HTTPError as exc:
            print(f"error: cannot reach Switchboard at {self.url}: {exc}", file=sys.stderr)
            return 2
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            print(f"error: HTTP {response.status_code}: {detail}", file=sys.stderr)
            return 1
        if response.content:
            print(json.dumps(response.json(), indent=2))
        return 0
