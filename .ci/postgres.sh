#!/usr/bin/env bash
# PostgreSQL for the journal's tests, from the Debian packages (15 on bookworm) when it is missing. Idempotent;
# prints nothing on success. The tests start a server of their own in a temporary folder (tests/postgresql.py),
# as the postgres user the package makes when they run as root; no cluster of the machine's is used.
set -euo pipefail
if command -v initdb > /dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq > /dev/null
$sudo apt-get install -y -qq --no-install-recommends postgresql > /dev/null
