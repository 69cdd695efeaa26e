# Sourced by scripts/*: makes `uv` available without anything installed by hand.
# uv comes from PyPI into the user's Python when missing; interpreters are never downloaded.
export UV_PYTHON_DOWNLOADS=never
if ! command -v uv >/dev/null 2>&1; then
  if ! python3 -m uv --version >/dev/null 2>&1; then
    echo "installing uv from PyPI (python3 -m pip install uv)" >&2
    python3 -m pip install --quiet --disable-pip-version-check uv >&2 \
      || python3 -m pip install --quiet --disable-pip-version-check --user uv >&2
  fi
  uv() { python3 -m uv "$@"; }
fi
