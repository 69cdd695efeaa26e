# Sourced by scripts/test: a Docker daemon for the container tests (tests/deploy). When none
# answers, root starts dockerd (it stays up after the tests, like a system service) and
# waits for it with a deadline; anyone else is told what is missing.
if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "no Docker daemon answers and this is not root, so none is started here:" \
      "start dockerd (or use a user in the docker group); without it the container tests" \
      "fail under CI=true and are skipped otherwise" >&2
  else
    _log=/var/log/switchboard-dockerd.log
    echo "starting dockerd (log: $_log)" >&2
    setsid nohup dockerd >"$_log" 2>&1 </dev/null &
    _deadline=$((SECONDS + 60))
    until docker info >/dev/null 2>&1; do
      if [ "$SECONDS" -ge "$_deadline" ]; then
        echo "dockerd did not answer within 60 s; its log ($_log) ends:" >&2
        tail -n 20 "$_log" >&2
        exit 2
      fi
      sleep 0.5
    done
    unset _log _deadline
  fi
fi
