#!/usr/bin/env bash
# Node 22 and the MCP tools that test the server from outside, from the npm registry, into .ci/node.
# Idempotent. Prints nothing on success; the tools are then in .ci/node/node_modules/.bin and Node 22 in
# .ci/node/node_modules/node-linux-*/bin (the machine's Node may be older: the conformance suite needs 22).
set -euo pipefail
cd "$(dirname "$0")"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "no Node 22 package for $(uname -m)" >&2; exit 1 ;;
esac
mkdir -p node
cd node
[ -f package.json ] || echo '{"private": true}' > package.json
wanted=("node-linux-$arch@22" "@modelcontextprotocol/conformance@0.1.16" "@modelcontextprotocol/inspector@2.12.0")
if [ ! -x "node_modules/node-linux-$arch/bin/node" ] || [ ! -d node_modules/@modelcontextprotocol/conformance ] \
  || [ ! -d node_modules/@modelcontextprotocol/inspector ]; then
  npm install --no-audit --no-fund --loglevel=error "${wanted[@]}" > /dev/null
fi
