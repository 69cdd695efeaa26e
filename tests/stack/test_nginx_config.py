"""The nginx config of deploy/nginx/: rendered from its template, accepted by `nginx -t`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchboard_cli.stack import binaries, nginx
from switchboard_cli.stack.accounts import daemon_account
from switchboard_cli.stack.errors import StackError
from switchboard_cli.stack.topology import plan


@pytest.fixture
def nginx_binary() -> str:
    found = binaries.find("nginx")
    if found is None:
        pytest.skip(f"nginx is not installed: {binaries.APT_INSTALL}")
    return found


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # Under /tmp: when tests run as root, nginx -t runs as the daemons' account, which
    # cannot reach pytest's private tmp_path.
    with tempfile.TemporaryDirectory(prefix="switchboard-nginx-") as tmp:
        Path(tmp).chmod(0o755)
        yield Path(tmp) / "nginx"


def topology():
    return plan(
        {"auth": 1, "registry": 2, "metrics": 1, "mcp-proxy": 3}, public_port=18080, with_postgres=True
    )


def test_the_rendered_config_passes_nginx_t(nginx_binary: str, run_dir: Path) -> None:
    text = nginx.config(topology(), run_dir, show_upstream=True)
    nginx.check(nginx_binary, nginx.write(run_dir, text, daemon_account()), account=daemon_account())
    assert "{{" not in text
    # Every replica is a server of its service's upstream, HTTP and gRPC alike.
    assert text.count("max_fails=1 fail_timeout=5s;") == 1 + 2 + 1 + 3
    assert text.count("max_fails=0;") == 1 + 2 + 1 + 3


def test_brotli_is_loaded_exactly_when_its_module_is_installed(nginx_binary: str, run_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as no_modules:
        without = nginx.config(topology(), run_dir, module_dirs=[Path(no_modules)])
    assert "load_module" not in without and "brotli on" not in without
    nginx.check(nginx_binary, nginx.write(run_dir, without, daemon_account()), account=daemon_account())

    # Brotli is optional (libnginx-mod-http-brotli-filter): on when found, off otherwise.
    module = nginx.brotli_module()
    default = nginx.config(topology(), run_dir)
    assert (f"load_module {module};" in default) is (module is not None)
    assert ("brotli on;" in default) is (module is not None)
    nginx.check(nginx_binary, nginx.write(run_dir, default, daemon_account()), account=daemon_account())


def test_the_replica_header_is_rendered_only_when_asked_for(run_dir: Path) -> None:
    assert "default $upstream_addr;" in nginx.config(topology(), run_dir, show_upstream=True)
    assert 'default "";' in nginx.config(topology(), run_dir, show_upstream=False)


def test_a_placeholder_without_a_value_is_an_error() -> None:
    with pytest.raises(StackError, match="no value for"):
        nginx.render("listen {{ listen }};", {})


def test_a_value_without_a_placeholder_is_an_error() -> None:
    with pytest.raises(StackError, match="no placeholder for listne"):
        nginx.render("listen {{ listen }};", {"listen": 80, "listne": 81})
