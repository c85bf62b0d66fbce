#!/bin/sh
# Installs what the tests need, then runs the whole suite in release mode (numeric tests are
# heavy in debug builds). The tests are XCTest; the empty Swift Testing pass is skipped.
# Usage: scripts/test.sh [extra swift test arguments]
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec swift test -c release --disable-swift-testing "$@"
