"""`switchboard nginx-config`: the template `stack up` renders, filled for services found by
their network names (Compose, Kubernetes)."""

from __future__ import annotations

import subprocess
import sys

from switchboard_cli import nginx_config


def test_each_service_is_its_network_name_on_the_shared_ports() -> None:
    text = nginx_config.config()
    for service in ("auth", "registry", "metrics", "mcp-proxy"):
        assert f"server {service}:8000 max_fails=1 fail_timeout=5s;" in text
        assert f"server {service}:50051 max_fails=0;" in text
    assert "listen 0.0.0.0:8080;" in text
    assert "{{" not in text


def test_brotli_is_off_unless_a_module_is_named() -> None:
    assert "brotli on;" not in nginx_config.config()
    module = "/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so"
    with_brotli = nginx_config.config(brotli_module=module)
    assert f"load_module {module};" in with_brotli and "brotli on;" in with_brotli


def test_the_command_writes_the_config_and_refuses_a_bad_front_address(tmp_path) -> None:
    out = tmp_path / "nginx.conf"
    argv = [sys.executable, "-m", "switchboard_cli.main", "nginx-config"]
    done = subprocess.run([*argv, "--output", str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_text() == nginx_config.config()

    bad = subprocess.run([*argv, "--grpc-fronts", "50052"], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "HOST:PORT" in bad.stderr
