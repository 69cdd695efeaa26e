"""Put the pinned uv in the project's `.tools/bin` and print that directory (for PATH).

scripts/_uv.sh runs this when no `uv` is on PATH. It needs nothing but a `python3`
(3.8 or later, standard library only), because that is all a fresh machine has, and on
Debian 12 that interpreter is externally managed (PEP 668): pip refuses to install into
it, `--user` too, and `--break-system-packages` is not ours to use. So uv goes into the
project instead, the first of these that works:

1. a private virtual environment, `.tools/uv-venv`, whose own pip installs uv (pip's
   index, certificates and proxies apply as the user configured them);
2. where python3 has no venv with pip (stock Debian 12 without python3-venv has no
   ensurepip, and its python3 has no pip at all): the uv wheel itself, fetched with
   urllib from the index pip is configured with (PIP_INDEX_URL, pip.conf; PyPI
   otherwise), checked against the sha256 the index gives, and its `uv` taken out.

Either way `.tools/bin/uv` is the result; when it already runs as the pinned version
nothing is fetched and nothing printed. Everything written is under `.tools/` (gitignored).
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import html.parser
import importlib.util
import json
import os
import platform
import re
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from base64 import b64encode
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

UV_VERSION = "0.13.10"
PYPI = "https://pypi.org/simple"
DEFAULT_TOOLS = Path(__file__).resolve().parent.parent / ".tools"
# A wheel is 15-20 MB: long enough for a slow link, short enough that a dead one is noticed.
TIMEOUT_S = 60
_JSON = "application/vnd.pypi.simple.v1+json"
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class BootstrapError(Exception):
    """uv could not be put in place; the message says why and what to do."""


class Wheel(NamedTuple):
    filename: str
    url: str
    sha256: str


class Platform(NamedTuple):
    """What decides which uv wheel runs here: `system` as `sys.platform` says it,
    `machine` as wheel tags spell it, `libc` ("glibc"/"musl") and its (or macOS's) version."""

    system: str
    machine: str
    libc: str
    version: tuple[int, int]


def main(argv: list[str]) -> int:
    tools = Path(argv[0]) if argv else DEFAULT_TOOLS
    try:
        bin_dir = ensure_uv(tools)
    except BootstrapError as exc:
        print(f"bootstrap: error: {exc}", file=sys.stderr)
        return 1
    print(bin_dir)
    return 0


def ensure_uv(tools: Path) -> Path:
    uv = tools / "bin" / "uv"
    if _runs_pinned(uv):
        return uv.parent
    tools.mkdir(parents=True, exist_ok=True)
    with _locked(tools / ".lock"):
        # Another script may have bootstrapped while this one waited for the lock.
        if not _runs_pinned(uv):
            if not _install_with_venv(tools, uv):
                _install_from_wheel(tools, uv)
            if not _runs_pinned(uv):
                raise BootstrapError(f"{uv} was installed but does not run as uv {UV_VERSION}")
    return uv.parent


def _runs_pinned(uv: Path) -> bool:
    try:
        found = subprocess.run([str(uv), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return found.returncode == 0 and re.match(rf"uv {re.escape(UV_VERSION)}(\s|$)", found.stdout) is not None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl  # POSIX only, like the shell scripts that run this

    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _say(message: str) -> None:
    print(f"bootstrap: {message}", file=sys.stderr, flush=True)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- 1. a private virtual environment -------------------------------------------------


def _install_with_venv(tools: Path, uv: Path) -> bool:
    """False when this python3 cannot make a venv with pip in it (then the wheel is used)."""
    if importlib.util.find_spec("venv") is None or importlib.util.find_spec("ensurepip") is None:
        return False
    venv = tools / "uv-venv"
    shutil.rmtree(venv, ignore_errors=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    python = venv / "bin" / "python"
    if made.returncode != 0 or _quiet([str(python), "-m", "pip", "--version"]).returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        return False
    _say(f"installing uv {UV_VERSION} with pip into a private virtual environment, {_shown(venv)}")
    # Settings meant for installs into an interpreter would misdirect this one.
    env = {
        k: v for k, v in os.environ.items() if k not in ("PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT")
    }
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
    # Never from the sdist: that would be a Rust build.
    installed = subprocess.run(
        [*pip, "--only-binary", ":all:", f"uv=={UV_VERSION}"], capture_output=True, text=True, env=env
    )
    if installed.returncode != 0:
        raise BootstrapError(f"pip could not install uv {UV_VERSION}:\n{installed.stdout}{installed.stderr}")
    uv.parent.mkdir(parents=True, exist_ok=True)
    link = uv.with_name(".uv.link")
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(os.path.relpath(venv / "bin" / "uv", uv.parent))
    os.replace(link, uv)
    return True


def _quiet(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True)
    except OSError as exc:
        return subprocess.CompletedProcess(command, 127, "", str(exc))


# --- 2. the wheel, with the standard library -------------------------------------------


def _install_from_wheel(tools: Path, uv: Path) -> None:
    config = pip_config(os.environ)
    index = pip_index_url(os.environ, config)
    opener = Opener(pip_cert(os.environ, config))
    wheel = choose_wheel(index_files(opener, index), this_platform())
    _say(
        f"installing uv {UV_VERSION} into {_shown(uv.parent)} from {wheel.filename} on "
        f"{_without_credentials(index)} (sha256 checked): python3 has no venv with pip here"
    )
    uv.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tools) as scratch:
        path = Path(scratch) / wheel.filename
        download(opener, wheel, path)
        _extract_uv(path, uv)


def pip_config(environ: Mapping[str, str]) -> configparser.ConfigParser:
    """pip's configuration files, later ones overriding earlier (pip's own order)."""
    config = configparser.ConfigParser(interpolation=None)
    named = environ.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return config
    home = Path(environ.get("HOME", "~")).expanduser()
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    xdg_home = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    files = [Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs) if d]
    files += [Path("/etc/pip.conf"), home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf"]
    if named:
        files.append(Path(named))
    with contextlib.suppress(configparser.Error):
        config.read([str(f) for f in files])
    return config


def _configured(environ: Mapping[str, str], config: configparser.ConfigParser, key: str) -> str:
    """A pip option as pip resolves it for `install`: environment, then [install], then [global]."""
    value = environ.get("PIP_" + key.upper().replace("-", "_"))
    if value:
        return value
    for section in ("install", "global"):
        for spelling in (key, key.replace("-", "_")):
            if config.has_option(section, spelling):
                return config.get(section, spelling).strip()
    return ""


def pip_index_url(environ: Mapping[str, str], config: configparser.ConfigParser) -> str:
    return _configured(environ, config, "index-url") or PYPI


def pip_cert(environ: Mapping[str, str], config: configparser.ConfigParser) -> str:
    return _configured(environ, config, "cert")


def this_platform() -> Platform:
    machine = platform.machine().lower()
    if sys.platform == "darwin":
        release = platform.mac_ver()[0] or "10.0"
        major, minor = (release.split(".") + ["0"])[:2]
        return Platform("darwin", machine, "", (int(major), int(minor)))
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if struct.calcsize("P") == 4:  # a 32-bit interpreter on a 64-bit kernel
        machine = {"x86_64": "i686", "aarch64": "armv7l"}.get(machine, machine)
    try:
        libc, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # type: ignore[union-attr]
        major, minor = version.split(".")[:2]
        return Platform(sys.platform, machine, libc, (int(major), int(minor)))
    except (AttributeError, OSError, ValueError):
        # No glibc: musl. Its version is not asked of it; uv's musl wheels need 1.1 (2014).
        return Platform(sys.platform, machine, "musl", (1, 2))


def choose_wheel(files: list[Wheel], here: Platform) -> Wheel:
    """The uv wheel for `here` among an index's files: the newest compatible platform tag."""
    ranked = [(rank, wheel) for wheel in files if (rank := _wheel_rank(wheel.filename, here)) is not None]
    if not ranked:
        raise BootstrapError(
            f"the index has no uv {UV_VERSION} wheel for {here.system} {here.machine} "
            f"({here.libc or 'macOS'} {here.version[0]}.{here.version[1]}): install uv yourself "
            "(https://docs.astral.sh/uv/) and run again"
        )
    return max(ranked, key=lambda pair: pair[0])[1]


def _wheel_rank(filename: str, here: Platform) -> tuple[int, int] | None:
    match = re.fullmatch(r"uv-(?P<version>[^-]+)-(?P<python>[^-]+)-none-(?P<platforms>[^-]+)\.whl", filename)
    if match is None or match["version"] != UV_VERSION or "py3" not in match["python"].split("."):
        return None
    ranks = [rank for tag in match["platforms"].split(".") if (rank := _tag_rank(tag, here)) is not None]
    return max(ranks, default=None)


def _tag_rank(tag: str, here: Platform) -> tuple[int, int] | None:
    if here.system == "darwin":
        found = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", tag)
        arches = {here.machine, "universal2"} if here.machine in ("x86_64", "arm64") else {here.machine}
        if found and found[3] in arches and (int(found[1]), int(found[2])) <= here.version:
            return (int(found[1]), int(found[2]))
        return None
    if not here.system.startswith("linux"):
        return None
    found = re.fullmatch(r"(manylinux|musllinux)_(\d+)_(\d+)_(\w+)", tag)
    if found:
        family, version, arch = found[1], (int(found[2]), int(found[3])), found[4]
    else:
        legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", tag)
        if legacy is None:
            return None
        family, version, arch = "manylinux", _LEGACY_MANYLINUX[legacy[1]], legacy[2]
    wanted = "manylinux" if here.libc == "glibc" else "musllinux"
    if family == wanted and arch == here.machine and version <= here.version:
        return version
    return None


class Opener:
    """urllib with pip's certificate setting, and an index URL's credentials sent only to its host."""

    def __init__(self, cert: str) -> None:
        self._context = ssl.create_default_context(cafile=cert or None)
        self._credentials: dict[str, str] = {}

    def open(self, url: str, accept: str = "*/*"):  # -> the response, a file-like object
        parts = urllib.parse.urlsplit(url)
        headers = {"Accept": accept, "User-Agent": f"switchboard-bootstrap (uv {UV_VERSION})"}
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            self._credentials[parts.hostname or ""] = b64encode(f"{user}:{password}".encode()).decode()
            url = _without_credentials(url)
        if parts.scheme == "file" and os.path.isdir(urllib.request.url2pathname(parts.path)):
            url = urllib.parse.urljoin(url.rstrip("/") + "/", "index.html")
        request = urllib.request.Request(url, headers=headers)
        if parts.hostname in self._credentials:
            # Unredirected: a redirect to another host must not carry the index's password.
            request.add_unredirected_header(
                "Authorization", "Basic " + self._credentials[parts.hostname or ""]
            )
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT_S, context=self._context)
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            raise BootstrapError(f"cannot fetch {_without_credentials(url)}: {exc}") from exc


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def index_files(opener: Opener, index: str) -> list[Wheel]:
    """uv's files on a simple index: its JSON form (PEP 691) where offered, HTML (PEP 503) otherwise."""
    page = index.rstrip("/") + "/uv/"
    with opener.open(page, accept=f"{_JSON}, text/html;q=0.1") as response:
        content_type = response.headers.get("Content-Type", "")
        body = response.read().decode("utf-8", "replace")
        page = response.geturl()
    if content_type.startswith(_JSON):
        return [
            Wheel(f["filename"], urllib.parse.urljoin(page, f["url"]), f.get("hashes", {}).get("sha256", ""))
            for f in json.loads(body)["files"]
        ]
    links = _Links()
    links.feed(body)
    files = []
    for href, text in links.found:
        url, _, fragment = urllib.parse.urljoin(page, href).partition("#")
        digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else ""
        files.append(Wheel(text.strip() or url.rsplit("/", 1)[-1], url, digest))
    return files


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.found.append((self._href, self._text))
            self._href = None


def download(opener: Opener, wheel: Wheel, path: Path) -> None:
    """Fetch `wheel` to `path`, refusing it unless its sha256 is the one the index gave."""
    if not re.fullmatch(r"[0-9a-f]{64}", wheel.sha256.lower()):
        raise BootstrapError(
            f"the index gives no sha256 for {wheel.filename}: an unchecked binary is not run"
        )
    digest = hashlib.sha256()
    with opener.open(wheel.url) as response, open(path, "wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != wheel.sha256.lower():
        path.unlink()
        raise BootstrapError(
            f"{wheel.filename} has sha256 {digest.hexdigest()}, the index says {wheel.sha256}: refused"
        )


def _extract_uv(wheel: Path, uv: Path) -> None:
    partial = uv.with_name(".uv.partial")
    with zipfile.ZipFile(wheel) as archive:
        member = next((n for n in archive.namelist() if re.fullmatch(r"uv-[^/]+\.data/scripts/uv", n)), None)
        if member is None:
            raise BootstrapError(f"{wheel.name} holds no uv binary")
        with archive.open(member) as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    partial.chmod(0o755)
    os.replace(partial, uv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
