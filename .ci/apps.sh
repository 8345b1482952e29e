#!/usr/bin/env bash
# What the MCP Apps browser tests (tests/app) need: Chromium from the Debian packages when it is missing (Playwright
# drives it as it is; no browser download), and the test host page, its npm packages pinned by package-lock.json and
# bundled by esbuild into tests/app/host/dist. Idempotent; prints nothing on success.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq > /dev/null
  # A font, or a page's text renders as boxes in the screenshots CI keeps.
  $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core > /dev/null
fi
cd tests/app/host
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error > /dev/null
fi
npm run --silent check
npm run --silent build
