"""Dependencies point one way: contracts ← core ← mcp ← services ← cli; a service never
imports another service (they meet only over gRPC)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "switchboard_auth": "services/auth",
    "switchboard_registry": "services/registry",
    "switchboard_proxy": "services/mcp-proxy",
    "switchboard_metrics": "services/metrics",
}
# package -> (its source tree, top-level packages it must not import)
RULES = {
    "switchboard_core": (
        "libs/core",
        {"switchboard_mcp", "switchboard_testing", "switchboard_cli", *SERVICES},
    ),
    "switchboard_mcp": ("libs/mcp", {"switchboard_testing", "switchboard_cli", *SERVICES}),
    **{
        name: (path, {"switchboard_testing", "switchboard_cli", *(set(SERVICES) - {name})})
        for name, path in SERVICES.items()
    },
}


def imported_packages(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_only_what_it_may(package: str) -> None:
    tree, forbidden = RULES[package]
    files = list((ROOT / tree / "src").rglob("*.py"))
    assert files, f"no sources found for {package}"
    offences = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in imported_packages(path) & forbidden
    }
    assert not offences, sorted(offences)
