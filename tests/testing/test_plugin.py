"""The pytest plugin: under CI=true a skipped test fails; elsewhere it stays skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SKIPPING_TESTS = textwrap.dedent(
    """
    import pytest

    def test_skipped_in_the_body():
        pytest.skip("needs a binary that is not installed")

    @pytest.mark.skip(reason="marked as skipped")
    def test_marked_skip():
        pass

    @pytest.mark.xfail(reason="known bug", strict=True)
    def test_expected_failure():
        assert False

    def test_passing():
        pass
    """
)


def run_pytest(directory, ci: str | None) -> subprocess.CompletedProcess[str]:
    (directory / "test_skips.py").write_text(SKIPPING_TESTS)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "test_skips.py"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_skipped_tests_fail_with_their_reason_when_ci_is_true(tmp_path):
    completed = run_pytest(tmp_path, ci="true")

    # A skip in the body fails the test; a skip mark fires in setup, so it reports as an error.
    assert completed.returncode == 1, completed.stdout
    assert "1 failed, 1 passed, 1 xfailed, 1 error" in completed.stdout
    assert "needs a binary that is not installed" in completed.stdout
    assert "marked as skipped" in completed.stdout


@pytest.mark.parametrize("ci", [None, "false"])
def test_skipped_tests_stay_skipped_outside_ci(tmp_path, ci):
    completed = run_pytest(tmp_path, ci=ci)

    assert completed.returncode == 0, completed.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in completed.stdout


def test_a_module_skipped_at_collection_fails_when_ci_is_true(tmp_path):
    (tmp_path / "test_module_skip.py").write_text(
        "import pytest\npytest.skip('module needs redis', allow_module_level=True)\n"
    )
    env = {**os.environ, "CI": "true"}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_module_skip.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode != 0, completed.stdout
    assert "module needs redis" in completed.stdout
