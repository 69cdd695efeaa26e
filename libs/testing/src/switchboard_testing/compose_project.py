"""deploy/compose/compose.yaml brought up by docker-compose for a test, and always taken
down (`down -v`: containers, network, volumes).

No registry is reachable here, so the public images the compose file names are replaced
by `compose_files/compose.test.yaml`: one infra image made from the debootstrap base
with Debian's postgresql, pgbouncer, redis-server and nginx (+ brotli), and the app
image with the fixture upstream MCP server added. Like `docker_images`, each is tagged
with a hash of what it is made from and kept as a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from switchboard_testing import docker_images
from switchboard_testing.errors import MissingBinary
from switchboard_testing.ports import free_port

FILES = Path(__file__).resolve().parent / "compose_files"
COMPOSE_FILE = docker_images.REPO_ROOT / "deploy" / "compose" / "compose.yaml"
OVERRIDE_FILE = FILES / "compose.test.yaml"
INFRA_IMAGE = "switchboard-test-infra"
UPSTREAM_IMAGE = "switchboard-test-upstream"
# Generous: on a loaded machine each service of the health-gated chain takes its time,
# and the override bears slow health checks for minutes before calling one unhealthy.
UP_TIMEOUT_S = 420
DOWN_TIMEOUT_S = 120
_LOCK = Path(tempfile.gettempdir()) / "switchboard-compose-images.lock"


@dataclass(frozen=True)
class ComposeImages:
    app: str
    infra: str
    upstream: str


def ensure_compose_images() -> ComposeImages:
    """The app image and the test's stand-ins, built unless their tags exist."""
    images = docker_images.ensure_images()
    with docker_images._exclusive(_LOCK):
        return ComposeImages(
            app=images.app,
            infra=_ensure_infra_image(images.base),
            upstream=_ensure_upstream_image(images),
        )


def _ensure_infra_image(base: str) -> str:
    files = {"Dockerfile": (FILES / "infra.Dockerfile").read_bytes()}
    files["infra-entrypoint"] = (FILES / "infra-entrypoint").read_bytes()
    return _ensure_built(INFRA_IMAGE, files, {"BASE_IMAGE": base})


def _ensure_upstream_image(images: docker_images.Images) -> str:
    package = FILES.parent
    files = {
        "Dockerfile": (FILES / "upstream.Dockerfile").read_bytes(),
        "requirements.txt": _fixture_requirements().encode(),
    }
    for path in _modules_of("upstream_server", package):
        files[f"switchboard_testing/{path.name}"] = path.read_bytes()
    return _ensure_built(UPSTREAM_IMAGE, files, {"BASE_IMAGE": images.base, "APP_IMAGE": images.app})


_IMPORTED = re.compile(r"^\s*from switchboard_testing(?:\.(\w+))? import ([\w, ()]+)", re.MULTILINE)


def _modules_of(module: str, package: Path) -> list[Path]:
    """The package's modules `module` imports, itself and `__init__` included: only a change
    to one of them makes a new upstream image."""
    found: set[str] = set()
    todo = ["__init__", module]
    while todo:
        name = todo.pop()
        path = package / f"{name}.py"
        if name in found or not path.is_file():
            continue
        found.add(name)
        for submodule, names in _IMPORTED.findall(path.read_text()):
            todo += [submodule] if submodule else [n.strip() for n in names.strip("()").split(",")]
    return sorted(package / f"{name}.py" for name in found)


def _fixture_requirements() -> str:
    """What switchboard_testing needs beyond the app image's packages, at the lock's versions."""

    def export(*args: str) -> set[str]:
        # `uv run` names itself in UV; the scripts may run a uv that is not on PATH.
        uv = os.environ.get("UV") or shutil.which("uv")
        command = [uv] if uv else [sys.executable, "-m", "uv"]
        done = subprocess.run(
            [*command, "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-workspace"]
            + ["--no-header", "--no-annotate", *args],
            cwd=docker_images.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return {line for line in done.stdout.splitlines() if line and not line.startswith("#")}

    return "\n".join(sorted(export("--package", "switchboard-testing") - export())) + "\n"


def _ensure_built(name: str, files: Mapping[str, bytes], build_args: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(build_args.items()):
        digest.update(f"{key}={value}\n".encode())
    for relative, content in sorted(files.items()):
        digest.update(relative.encode() + b"\0" + content)
    tag = f"{name}:{digest.hexdigest()[:16]}"
    if docker_images._image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="switchboard-image-") as context:
        for relative, content in files.items():
            path = Path(context) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            if relative.endswith("entrypoint"):
                path.chmod(0o755)
        docker_images._build(
            [
                "docker",
                "build",
                "--quiet",
                *(f"--build-arg={key}={value}" for key, value in build_args.items()),
                f"--label={docker_images.LABEL}={name}",
                f"--tag={tag}",
                context,
            ],
            what=f"the image {tag}",
        )
    return tag


@dataclass
class ComposeProject:
    """One `docker-compose -p NAME` project of the compose file and the test override."""

    name: str
    env: dict[str, str]
    public_port: int
    files: tuple[Path, ...] = (COMPOSE_FILE, OVERRIDE_FILE)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    def compose(self, *args: str, timeout_s: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        command = ["docker-compose", "--ansi", "never", "-p", self.name]
        for path in self.files:
            command += ["-f", str(path)]
        done = subprocess.run(
            [*command, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"docker-compose {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                f"{done.stderr[-6000:]}\n{self.logs()}"
            )
        return done

    def containers(self, service: str) -> list[str]:
        """Ids of the service's running containers."""
        return self.compose("ps", "-q", service).stdout.split()

    def logs(self, tail: int = 60) -> str:
        done = self.compose("logs", "--no-color", f"--tail={tail}", check=False)
        return done.stdout[-20000:]


@contextlib.contextmanager
def compose_up(images: ComposeImages, *, prefix: str = "sbtest") -> Iterator[ComposeProject]:
    """Up (every service health-gated, so this returns once nginx's turn has come), then
    always `down -v`, a failed up included."""
    if shutil.which("docker-compose") is None:
        raise MissingBinary("docker-compose is not installed: apt-get install docker-compose")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="switchboard-compose-") as tmp:
        secrets_file = Path(tmp) / "secrets.env"
        secrets_file.write_text(_secrets())
        project = ComposeProject(
            name=f"{prefix}{os.getpid()}{secrets.token_hex(3)}",
            public_port=port,
            env={
                "SWITCHBOARD_IMAGE": images.app,
                "SWITCHBOARD_SECRETS_FILE": str(secrets_file),
                "SWITCHBOARD_PUBLISH": f"127.0.0.1:{port}",
                "SWITCHBOARD_TEST_INFRA_IMAGE": images.infra,
                "SWITCHBOARD_TEST_UPSTREAM_IMAGE": images.upstream,
            },
        )
        try:
            project.compose("up", "-d", "--no-build", timeout_s=UP_TIMEOUT_S)
            yield project
        finally:
            # Nothing of a test's project needs a graceful stop: killed at once, the down
            # takes a second or two instead of the services' grace, level after level.
            project.compose("down", "-v", "--remove-orphans", "--timeout=0", timeout_s=DOWN_TIMEOUT_S)


ADMIN_EMAIL = "admin@example.com"  # deploy/k8s/base/env/auth.env
ADMIN_PASSWORD = "compose-test-admin-password"


def _secrets() -> str:
    from switchboard_core.security.sealing import new_key_entry

    database_password = secrets.token_urlsafe(18)
    urls = {
        service: f"postgresql+psycopg://switchboard:{database_password}@pgbouncer:6432/switchboard_{service}"
        for service in ("auth", "registry", "metrics")
    }
    lines = {
        "SWITCHBOARD_INTERNAL_TOKEN": secrets.token_urlsafe(36),
        "SWITCHBOARD_SECRET_KEYS": new_key_entry(),
        "SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "SWITCHBOARD_REDIS_URL": "redis://redis:6379/0",
        **{f"SWITCHBOARD_{service.upper()}_DATABASE_URL": url for service, url in urls.items()},
        "POSTGRES_PASSWORD": database_password,
        "DB_PASSWORD": database_password,
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())
