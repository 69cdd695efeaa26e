# Sourced by scripts/test: the Debian packages the distributed-mode tests start
# (Postgres, PgBouncer, Redis, nginx with its brotli modules; Prometheus and the exporters
# of those tiers for the monitoring test) and the container tests use
# (Docker, debootstrap for their base image, docker-compose), installed when missing.
# Tests start their own instances on free ports; nothing here starts a service
# (scripts/_docker_daemon.sh starts dockerd).
_missing=()
for _package in postgresql pgbouncer redis-server nginx libnginx-mod-http-brotli-filter libnginx-mod-http-brotli-static \
  prometheus prometheus-postgres-exporter prometheus-redis-exporter prometheus-nginx-exporter prometheus-pgbouncer-exporter; do
  dpkg-query -W -f='${Status}' "$_package" 2>/dev/null | grep -q "install ok installed" || _missing+=("$_package")
done
# By command: a Docker installed otherwise (docker-ce) serves as well.
command -v docker >/dev/null 2>&1 || _missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || _missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || _missing+=(debootstrap)
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
