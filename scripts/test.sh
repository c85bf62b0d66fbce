#!/bin/sh
# Installs what the tests need, then runs the whole suite in release mode (numeric tests are
# heavy in debug builds). Usage: scripts/test.sh [extra swift test arguments]
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec swift test -c release "$@"
