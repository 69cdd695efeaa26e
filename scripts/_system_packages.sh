# Sourced by scripts/test: the Debian packages the distributed-mode tests start
# (Postgres, PgBouncer, Redis, nginx with its brotli modules), installed when missing.
# Tests start their own instances on free ports; nothing here starts a service.
_missing=()
for _package in postgresql pgbouncer redis-server nginx libnginx-mod-http-brotli-filter libnginx-mod-http-brotli-static; do
  dpkg-query -W -f='${Status}' "$_package" 2>/dev/null | grep -q "install ok installed" || _missing+=("$_package")
done
if [ ${#_missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing Debian packages: ${_missing[*]} (and no apt-get here): install them, then run again" >&2
    exit 2
  fi
  _sudo=""
  [ "$(id -u)" -ne 0 ] && _sudo="sudo"
  echo "installing Debian packages: ${_missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $_sudo apt-get install -y -qq "${_missing[@]}" >&2 \
    || { $_sudo apt-get update -qq >&2 && $_sudo apt-get install -y -qq "${_missing[@]}" >&2; }
fi
unset _missing _package _sudo
