#!/usr/bin/env bash
# The official MCP conformance suite against `ideogram-mcp http --offline`. Fails on any scenario that
# fails and is not in conformance-baseline.yml (with its reason), or that passes and is.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/node-tools.sh
export PATH="$PWD/.ci/node/node_modules/node-linux-$( [ "$(uname -m)" = x86_64 ] && echo x64 || echo arm64)/bin:$PATH"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
IDEOGRAM_MCP_DATA_DIR="$work/data" IDEOGRAM_MCP_OUTPUT_DIR="$work/out" \
  uv run --locked ideogram-mcp http --offline --port "$port" > "$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
  sleep 0.2
done
.ci/node/node_modules/.bin/conformance server --url "http://127.0.0.1:$port/mcp" \
  --expected-failures .ci/conformance-baseline.yml -o "$work/results" > "$work/conformance.log" 2>&1 || {
  cat "$work/conformance.log"
  echo "conformance: failed (server log: $work/server.log)" >&2
  exit 1
}
sed -n '/=== SUMMARY ===/,$p' "$work/conformance.log"
