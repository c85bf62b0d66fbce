#!/bin/sh
# Data-pipeline benchmark: decode + random crop (pad 4) + flip + normalise of the CIFAR-10 JPEG
# training set through the DataLoader, with 1 and 2 workers. Prints images per second.
#
# Usage: scripts/bench-data.sh [ARCHIVE] [vision-bench options]   (default ../shared/datasets/cifar10-jpeg.tar.gz)
#        e.g. scripts/bench-data.sh --augment standard,trivial,augmix   (vision train's presets instead)
set -eu

here="$(cd "$(dirname "$0")/.." && pwd)"
archive="$here/../shared/datasets/cifar10-jpeg.tar.gz"
case "${1:-}" in
    ""|-*) ;;
    *) archive="$1"; shift ;;
esac
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
swift run -c release vision-bench data --root "$scratch" "$@"
