"""The container images tests run: a Debian base made with debootstrap, and the
Switchboard image (`deploy/docker/Dockerfile`) built on it.

No image registry is reachable from the test machines, so the base is made here:
`debootstrap` (bookworm, minbase, python3 + python3-venv + ca-certificates) from the
Debian mirror apt already uses, then `docker import`. It trusts what this machine trusts
(the CAs in /usr/local/share/ca-certificates, e.g. a TLS-intercepting egress proxy's),
and says so to pip and uv through PIP_CERT / SSL_CERT_FILE, so the image build reaches
PyPI on the default bridge network.

Each image is tagged with a hash of what it is built from and reused while that tag
exists: a CI run builds each at most once, even with several xdist workers (they take
turns on a file lock, and the second finds the first's tag). Images stay as a cache;
only containers, networks and volumes are the tests' to remove.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from switchboard_testing.errors import MissingBinary

REPO_ROOT = Path(__file__).resolve().parents[4]
DOCKERFILE = Path("deploy/docker/Dockerfile")
DOCKERIGNORE = Path(".dockerignore")
IMAGE = "switchboard"
BASE_IMAGE = "switchboard-test-base"
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
# Changing how the base is made (not only its inputs) must change its tag.
BASE_RECIPE = "debootstrap minbase + local CAs + PIP_CERT/SSL_CERT_FILE, v1"
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
}
LABEL = "org.switchboard.test-image"
BASE_TIMEOUT_S = 600
BUILD_TIMEOUT_S = 900
BUILD_LOCK = Path(tempfile.gettempdir()) / "switchboard-docker-images.lock"


@dataclass(frozen=True)
class Images:
    """Tags of the images a test runs: `app` is the Switchboard image built on `base`."""

    base: str
    app: str


def docker_problem() -> str | None:
    """Why containers cannot run here (None when a daemon answers)."""
    if shutil.which("docker") is None:
        return "docker is not installed: apt-get install docker.io (scripts/_system_packages.sh does)"
    result = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return f"no Docker daemon answers `docker info`: {result.stderr.strip()[:300]}"
    return None


def ensure_images(root: Path = REPO_ROOT, *, lock: Path = BUILD_LOCK) -> Images:
    """The base and the Switchboard image, built now unless an image with the tag their
    inputs give exists already. Takes minutes when cold: callers allow for it."""
    base = f"{BASE_IMAGE}:{_base_hash()}"
    wanted = Images(base=base, app=f"{IMAGE}:test-{app_hash(base, root)}")
    # Built already: no need to queue behind another checkout's build on this daemon.
    if _image_exists(wanted.base) and _image_exists(wanted.app):
        return wanted
    with _exclusive(lock):
        base = ensure_base_image()
        return Images(base=base, app=ensure_app_image(base, root))


def ensure_base_image() -> str:
    tag = f"{BASE_IMAGE}:{_base_hash()}"
    if not _image_exists(tag):
        _make_base_image(tag)
    return tag


def ensure_app_image(base: str, root: Path = REPO_ROOT) -> str:
    tag = f"{IMAGE}:test-{app_hash(base, root)}"
    if not _image_exists(tag):
        _build(
            [
                "docker",
                "build",
                "--quiet",
                "--file",
                str(root / DOCKERFILE),
                "--build-arg",
                f"BASE_IMAGE={base}",
                "--label",
                f"{LABEL}=app",
                "--tag",
                tag,
                str(root),
            ],
            what=f"the image {tag}",
        )
    return tag


def app_hash(base: str, root: Path = REPO_ROOT) -> str:
    """A hash of everything `docker build` reads: the Dockerfile, the files of the build
    context (.dockerignore applied) and the base image."""
    digest = hashlib.sha256(f"base={base}\n".encode())
    for relative in [DOCKERFILE, DOCKERIGNORE, *context_files(root)]:
        path = root / relative
        digest.update(f"{relative.as_posix()}\0{path.stat().st_mode & 0o111:o}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def context_files(root: Path = REPO_ROOT) -> list[Path]:
    """The files `docker build` sends from `root`, under the rules of its .dockerignore."""
    rules = _ignore_rules((root / DOCKERIGNORE).read_text())
    reincluded = [pattern for pattern, negated in rules if negated]
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory).relative_to(root)
        # Walking .venv or .git file by file would cost seconds; a directory no rule can
        # bring back is not entered.
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not _ignored((here / name).as_posix(), rules)
            or any(_could_reinclude((here / name).as_posix(), pattern) for pattern in reincluded)
        )
        found.extend(here / name for name in files if not _ignored((here / name).as_posix(), rules))
    return sorted(found)


def _ignore_rules(text: str) -> list[tuple[re.Pattern[str], bool]]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip().removeprefix("./").strip("/")
        rules.append((re.compile(_glob_to_regex(pattern)), negated))
    return rules


def _glob_to_regex(pattern: str) -> str:
    # Docker's syntax: Go's filepath.Match (`*`, `?` stay within a path segment) plus `**`.
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out) + r"\Z"


def _ignored(path: str, rules: list[tuple[re.Pattern[str], bool]]) -> bool:
    # The last rule matching the path or a directory above it decides, as in Docker.
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern, negated in rules:
        if any(pattern.match(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def _could_reinclude(directory: str, pattern: re.Pattern[str]) -> bool:
    return pattern.pattern.startswith(("(?:.*/)?", ".*")) or pattern.pattern.startswith(
        re.escape(directory + "/")
    )


def _base_hash() -> str:
    digest = hashlib.sha256(f"{BASE_RECIPE}\n{SUITE}\n{' '.join(BASE_PACKAGES)}\n".encode())
    for key, value in sorted(BASE_ENV.items()):
        digest.update(f"{key}={value}\n".encode())
    for ca in _local_cas():
        digest.update(ca.name.encode() + b"\0" + ca.read_bytes())
    return digest.hexdigest()[:16]


def _local_cas() -> list[Path]:
    return sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []


def _make_base_image(tag: str) -> None:
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
    )
    if debootstrap is None:
        raise MissingBinary("debootstrap is not installed: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise MissingBinary("making the base image with debootstrap needs root")
    with tempfile.TemporaryDirectory(prefix="switchboard-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _build(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                SUITE,
                str(rootfs),
                debian_mirror(),
            ],
            what=f"a {SUITE} root filesystem",
            timeout_s=BASE_TIMEOUT_S,
        )
        if cas := _local_cas():
            for ca in cas:
                shutil.copy(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
            _build(["chroot", str(rootfs), "update-ca-certificates"], what="the base's CA bundle")
        # apt's lists and caches are the build's, not the image's.
        for leftover in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in (rootfs / leftover).glob("*"):
                if entry.is_file():
                    entry.unlink()
        changes = [f"ENV {key}={value}" for key, value in BASE_ENV.items()]
        changes.append(f"LABEL {LABEL}=base")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            _build(
                ["docker", "import", *(f"--change={c}" for c in changes), "-", tag],
                what=f"the base image {tag}",
                stdin=tar.stdout,
            )
        finally:
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()


def debian_mirror(sources: Iterable[Path] | None = None) -> str:
    """The Debian archive apt on this machine uses (it is reachable), else deb.debian.org."""
    if sources is None:
        apt = Path("/etc/apt")
        sources = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    for source in sources:
        with contextlib.suppress(OSError):
            for line in source.read_text().splitlines():
                if not line.lstrip().startswith("#") and (
                    match := re.search(r"(https?://\S+/debian)/?(?:\s|$)", line)
                ):
                    return match.group(1)
    return "http://deb.debian.org/debian"


def _image_exists(tag: str) -> bool:
    return (
        subprocess.run(["docker", "image", "inspect", tag], capture_output=True, timeout=60).returncode == 0
    )


def _build(command: list[str], *, what: str, timeout_s: float = BUILD_TIMEOUT_S, stdin=None) -> None:
    # The legacy builder: Debian's docker.io ships no buildx, and BuildKit without it fails.
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    result = subprocess.run(command, stdin=stdin, capture_output=True, text=True, timeout=timeout_s, env=env)
    if result.returncode != 0:
        raise AssertionError(
            f"making {what} failed ({result.returncode}): {' '.join(command)}\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
