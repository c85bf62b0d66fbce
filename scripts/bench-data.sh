#!/bin/sh
# Data-pipeline benchmark: decode + random crop (pad 4) + flip + normalise of the CIFAR-10 JPEG
# training set through the DataLoader, with 1 and 2 workers. Prints images per second.
#
# Usage: scripts/bench-data.sh [ARCHIVE]   (default ../shared/datasets/cifar10-jpeg.tar.gz)
set -eu

here="$(cd "$(dirname "$0")/.." && pwd)"
archive="${1:-$here/../shared/datasets/cifar10-jpeg.tar.gz}"
if [ ! -f "$archive" ]; then
    echo "error: $archive not found" >&2
    exit 1
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/vision-bench-data.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
trap 'rm -rf "$scratch"; exit 1' INT TERM HUP

echo "Extracting $archive"
tar -xzf "$archive" -C "$scratch"
cd "$here"
swift run -c release vision-bench data --root "$scratch"
