"""A fresh machine runs the README's two commands: scripts/_uv.sh puts uv in place on
Debian 12's own python3, which is externally managed (PEP 668), with no uv on PATH.

Both ways the bootstrap has are run for real, in a temporary copy of the two files it
needs, with the PATH of a stock Debian: through a private venv's pip on /usr/bin/python3
as it is here (python3-venv and python3-pip installed), and through the wheel on the same
Debian Python without what those two packages add (no ensurepip, no pip), which is what
a stock Debian 12 has. The uv wheel is fetched once per run, from the index pip is
configured with here, and served to both from a local index."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP_FILES = ("scripts/_uv.sh", "scripts/bootstrap_uv.py")
SYSTEM_PYTHON = Path("/usr/bin/python3")
STOCK_PATH = "/usr/local/bin:/usr/bin:/bin"


def _load_bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bootstrap_uv", ROOT / "scripts" / "bootstrap_uv.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bootstrap = _load_bootstrap()


@pytest.fixture(scope="session")
def uv_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned uv wheel for this machine, from the index pip uses here (PyPI unless configured)."""
    environ = dict(os.environ)
    config = bootstrap.pip_config(environ)
    opener = bootstrap.Opener(bootstrap.pip_cert(environ, config))
    files = bootstrap.index_files(opener, bootstrap.pip_index_url(environ, config))
    wheel = bootstrap.choose_wheel(files, bootstrap.this_platform())
    path = tmp_path_factory.mktemp("uv-wheel") / wheel.filename
    bootstrap.download(opener, wheel, path)
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def local_index(tmp_path_factory: pytest.TempPathFactory, uv_wheel: Path) -> Iterator[str]:
    """A simple (PEP 503, HTML) index on loopback holding that wheel: `<url>/simple` gives
    its true sha256, `<url>/tampered/simple` another one."""
    root = tmp_path_factory.mktemp("index")
    (root / "files").mkdir()
    shutil.copy(uv_wheel, root / "files" / uv_wheel.name)
    digest = hashlib.sha256(uv_wheel.read_bytes()).hexdigest()
    for prefix, sha256 in (("simple", digest), ("tampered/simple", "0" * 64)):
        page = root / prefix / "uv"
        page.mkdir(parents=True)
        href = "/files/" + uv_wheel.name
        page.joinpath("index.html").write_text(
            f'<!DOCTYPE html><html><body><a href="{href}#sha256={sha256}">{uv_wheel.name}</a></body></html>'
        )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="session")
def python_without_venv_or_pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's own Python 3.11 as a stock Debian 12 has it: the same binary and standard
    library, without the ensurepip python3-venv adds nor the pip of python3-pip. Python
    finds its library beside its binary, so a copy of the binary next to links to every
    library entry but ensurepip is that interpreter; its EXTERNALLY-MANAGED comes along."""
    prefix = tmp_path_factory.mktemp("stock-python")
    stdlib = Path(_stdlib_of(SYSTEM_PYTHON))
    (prefix / "bin").mkdir()
    shutil.copy2(SYSTEM_PYTHON.resolve(), prefix / "bin" / "python3")
    library = prefix / "lib" / stdlib.name
    library.mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name != "ensurepip":
            (library / entry.name).symlink_to(entry)
    return prefix / "bin"


def _stdlib_of(python: Path | str, env: dict[str, str] | None = None) -> str:
    found = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    for name in BOOTSTRAP_FILES:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)
    return project


def _stock_env(home: Path, path: str = STOCK_PATH, **extra: str) -> dict[str, str]:
    """A new user's environment: a stock PATH (no uv, no pyenv), none of this shell's variables."""
    assert shutil.which("uv", path=path) is None, f"uv is on {path}"
    home.mkdir(exist_ok=True)
    return {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", **extra}


def _source_uv_sh(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "source scripts/_uv.sh && command -v uv && uv --version"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )


def _refusing_port() -> socket.socket:
    """A loopback socket bound but not listening: connections to its port are refused."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    return held


def test_debian_python_refuses_pip_installs_even_per_user(tmp_path: Path) -> None:
    assert shutil.which("python3", path=STOCK_PATH) == str(SYSTEM_PYTHON)
    assert (Path(_stdlib_of(SYSTEM_PYTHON)) / "EXTERNALLY-MANAGED").is_file()
    # Were pip to go ahead after all, it would find nothing to install into the system.
    with _refusing_port() as nowhere:
        index = f"http://127.0.0.1:{nowhere.getsockname()[1]}/simple"
        env = _stock_env(tmp_path / "home", PIP_CONFIG_FILE="/dev/null", PIP_INDEX_URL=index)
        for user in ([], ["--user"]):
            refused = subprocess.run(
                [str(SYSTEM_PYTHON), "-m", "pip", "install", *user, "uv"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert refused.returncode != 0
            assert "error: externally-managed-environment" in refused.stderr


@pytest.fixture(scope="module")
def bootstrapped_through_venv(
    tmp_path_factory: pytest.TempPathFactory, local_index: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp_path = tmp_path_factory.mktemp("venv-way")
    project = _project(tmp_path)
    env = _stock_env(tmp_path / "home", PIP_CONFIG_FILE="/dev/null", PIP_INDEX_URL=f"{local_index}/simple")
    return project, _source_uv_sh(project, env)


def test_bootstrap_installs_uv_through_a_private_venv_on_the_pep668_python(
    bootstrapped_through_venv: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    project, run = bootstrapped_through_venv
    assert run.returncode == 0, run.stderr
    where, version = run.stdout.splitlines()
    assert where == str(project / ".tools" / "bin" / "uv")
    assert version.startswith(f"uv {bootstrap.UV_VERSION} ")
    assert Path(where).resolve() == project / ".tools" / "uv-venv" / "bin" / "uv"
    assert (project / ".tools" / "uv-venv" / "bin" / "python").resolve() == SYSTEM_PYTHON.resolve()
    assert run.stderr.splitlines() == [
        f"bootstrap: installing uv {bootstrap.UV_VERSION} with pip into a private virtual environment, "
        ".tools/uv-venv"
    ]


def test_a_second_bootstrap_fetches_and_prints_nothing(
    bootstrapped_through_venv: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    project, first = bootstrapped_through_venv
    with _refusing_port() as nowhere:
        index = f"http://127.0.0.1:{nowhere.getsockname()[1]}/simple"
        again = _source_uv_sh(project, _stock_env(tmp_path / "home", PIP_INDEX_URL=index))
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert again.stderr == ""


def test_bootstrap_takes_uv_from_the_wheel_where_python3_has_no_venv_or_pip(
    python_without_venv_or_pip: Path, local_index: str, tmp_path: Path
) -> None:
    path = f"{python_without_venv_or_pip}:{STOCK_PATH}"
    env = _stock_env(tmp_path / "home", path=path)
    # The index comes from pip's own configuration file, as a user behind a mirror has it.
    pip_conf = tmp_path / "home" / ".config" / "pip" / "pip.conf"
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text(f"[global]\nindex-url = {local_index}/simple\n")
    python3 = shutil.which("python3", path=path)
    assert python3 == str(python_without_venv_or_pip / "python3")
    assert (Path(_stdlib_of(python3, env)) / "EXTERNALLY-MANAGED").is_file()
    no_pip = subprocess.run([python3, "-m", "pip", "--version"], env=env, capture_output=True, text=True)
    assert "No module named pip" in no_pip.stderr
    no_venv = subprocess.run(
        [python3, "-m", "venv", str(tmp_path / "venv")], env=env, capture_output=True, text=True
    )
    assert no_venv.returncode != 0 and "ensurepip is not" in no_venv.stdout

    project = _project(tmp_path)
    run = _source_uv_sh(project, env)

    assert run.returncode == 0, run.stderr
    where, version = run.stdout.splitlines()
    assert where == str(project / ".tools" / "bin" / "uv")
    assert not Path(where).is_symlink()
    assert version.startswith(f"uv {bootstrap.UV_VERSION} ")
    assert not (project / ".tools" / "uv-venv").exists()
    [said] = run.stderr.splitlines()
    assert said.startswith(f"bootstrap: installing uv {bootstrap.UV_VERSION} into .tools/bin from uv-")
    assert f"on {local_index}/simple (sha256 checked)" in said


def test_a_wheel_unlike_the_index_sha256_is_refused(
    python_without_venv_or_pip: Path, local_index: str, tmp_path: Path
) -> None:
    env = _stock_env(
        tmp_path / "home",
        path=f"{python_without_venv_or_pip}:{STOCK_PATH}",
        PIP_CONFIG_FILE="/dev/null",
        PIP_INDEX_URL=f"{local_index}/tampered/simple",
    )
    project = _project(tmp_path)
    run = _source_uv_sh(project, env)
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1].endswith(f"the index says {'0' * 64}: refused")
    assert not (project / ".tools" / "bin" / "uv").exists()
    assert not list((project / ".tools").rglob("*.whl"))


# The names uv 0.13.10 publishes on PyPI, but for Windows' (the scripts are bash).
_PUBLISHED = [
    "linux_armv6l",
    "macosx_10_12_x86_64",
    "macosx_11_0_arm64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
    "manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l",
    "manylinux_2_17_armv7l.manylinux2014_armv7l",
    "manylinux_2_17_i686.manylinux2014_i686",
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_28_aarch64",
    "musllinux_1_1_i686",
    "musllinux_1_1_x86_64",
]


@pytest.mark.parametrize(
    ("here", "chosen"),
    [
        (("linux", "x86_64", "glibc", (2, 36)), "manylinux_2_17_x86_64.manylinux2014_x86_64"),
        (("linux", "x86_64", "musl", (1, 2)), "musllinux_1_1_x86_64"),
        (("linux", "aarch64", "glibc", (2, 36)), "manylinux_2_28_aarch64"),
        (
            ("linux", "aarch64", "glibc", (2, 17)),
            "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        ),
        (("linux", "i686", "glibc", (2, 31)), "manylinux_2_17_i686.manylinux2014_i686"),
        (("darwin", "arm64", "", (14, 5)), "macosx_11_0_arm64"),
        (("darwin", "x86_64", "", (13, 0)), "macosx_10_12_x86_64"),
    ],
)
def test_the_wheel_chosen_is_the_newest_that_runs_here(here: tuple, chosen: str) -> None:
    files = [
        bootstrap.Wheel(f"uv-{bootstrap.UV_VERSION}-py3-none-{tags}.whl", f"https://x/{tags}", "")
        for tags in _PUBLISHED
    ]
    wheel = bootstrap.choose_wheel(files, bootstrap.Platform(*here))
    assert wheel.filename == f"uv-{bootstrap.UV_VERSION}-py3-none-{chosen}.whl"


def test_a_platform_uv_has_no_wheel_for_is_told_to_install_uv_itself() -> None:
    files = [bootstrap.Wheel(f"uv-{bootstrap.UV_VERSION}-py3-none-{tags}.whl", "", "") for tags in _PUBLISHED]
    with pytest.raises(bootstrap.BootstrapError, match="install uv yourself"):
        bootstrap.choose_wheel(files, bootstrap.Platform("linux", "x86_64", "glibc", (2, 12)))


def test_where_the_bootstrap_writes_is_gitignored(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    written = [".tools/bin/uv", ".tools/uv-venv/bin/python", ".tools/.lock"]
    ignored = subprocess.run(
        ["git", "check-ignore", *written], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert ignored.stdout.splitlines() == written
