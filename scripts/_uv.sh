# Sourced by scripts/*: makes `uv` available without anything installed by hand.
# A uv on PATH is used as it is; otherwise scripts/bootstrap_uv.py puts the pinned one in
# .tools/bin (gitignored), never into python3 itself: on Debian 12 that interpreter is
# externally managed (PEP 668). Interpreters are never downloaded.
export UV_PYTHON_DOWNLOADS=never
if ! command -v uv >/dev/null 2>&1; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 (3.11 to 3.13) is needed: install it (Debian: apt-get install python3), then run again" >&2
    exit 2
  fi
  _uv_bin=$(python3 -I "$(dirname "${BASH_SOURCE[0]}")/bootstrap_uv.py") || exit
  PATH="$_uv_bin:$PATH"
  unset _uv_bin
fi
