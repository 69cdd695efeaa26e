"""The image fixture's promise to parallel workers: each image is built once per run.

Two processes ask for the images at once, with stand-ins for `docker`, `debootstrap` and
`chroot` on PATH that record what they are asked to do (the real build is exercised by
tests/deploy/test_image.py; what matters here is who builds, not what is built). The
stand-in debootstrap holds the first build open until the second process is waiting."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from switchboard_testing.readiness import eventually

FAKE_DOCKER = textwrap.dedent(
    """\
    #!/bin/sh
    echo "docker $* [asked by $PPID]" >> "$FAKE_LOG"
    tag_file() { printf '%s' "$1" | tr '/:' '__'; }
    case "$1" in
      info) exit 0 ;;
      image) [ -e "$FAKE_STATE/$(tag_file "$3")" ]; exit $? ;;
      import) cat > /dev/null; for last; do :; done; touch "$FAKE_STATE/$(tag_file "$last")" ;;
      build)
        while [ $# -gt 0 ]; do
          [ "$1" = --tag ] && touch "$FAKE_STATE/$(tag_file "$2")"
          shift
        done ;;
    esac
    """
)
FAKE_DEBOOTSTRAP = textwrap.dedent(
    """\
    #!/bin/sh
    echo "debootstrap $*" >> "$FAKE_LOG"
    rootfs=$(eval echo "\\${$(($# - 1))}")  # the target; the mirror comes last
    mkdir -p "$rootfs/usr/local/share/ca-certificates" "$rootfs/var/lib/apt/lists"
    touch "$FAKE_STATE/debootstrap-started"
    while [ ! -e "$FAKE_STATE/release" ]; do sleep 0.05; done
    """
)
FAKE_CHROOT = '#!/bin/sh\necho "chroot $*" >> "$FAKE_LOG"\n'

ASK_FOR_IMAGES = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from switchboard_testing.docker_images import ensure_images

    images = ensure_images(lock=Path(sys.argv[1]))
    print(images.base, images.app)
    """
)


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, str]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("debootstrap", FAKE_DEBOOTSTRAP), ("chroot", FAKE_CHROOT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_STATE": str(state),
    }


def test_two_workers_asking_at_once_build_each_image_once(tmp_path: Path, stand_ins: dict[str, str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("the base image is made as root (debootstrap); CI runs as root")
    state, log = Path(stand_ins["FAKE_STATE"]), Path(stand_ins["FAKE_LOG"])
    lock = tmp_path / "build.lock"

    def ask() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", ASK_FOR_IMAGES, str(lock)],
            env=stand_ins,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = ask()
    try:
        eventually(lambda: (state / "debootstrap-started").exists(), timeout_s=30, what="the first build")
        second = ask()
        try:
            # The second has looked for the images and found none: it goes for the lock.
            eventually(
                lambda: f"[asked by {second.pid}]" in log.read_text(), timeout_s=30, what="the second ask"
            )
            (state / "release").touch()
            outputs = [process.communicate(timeout=60) for process in (first, second)]
        finally:
            second.kill()
    finally:
        first.kill()
    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].startswith("switchboard-test-base:")
    calls = log.read_text().splitlines()
    assert sum(call.startswith("debootstrap ") for call in calls) == 1, calls
    assert sum(call.startswith("docker import ") for call in calls) == 1, calls
    assert sum(call.startswith("docker build ") for call in calls) == 1, calls
