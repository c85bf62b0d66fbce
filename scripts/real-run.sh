#!/bin/sh
# Short real runs with the CLI (issue: the `vision` command), and PyTorch's training speed for the
# same models and batch sizes measured in the same session:
#   1. vision train resnet18 --data fashion-mnist --epochs 1
#   2. vision train resnet20 --data cifar (the CIFAR-10 JPEG tree from ../shared/datasets)
# Usage: scripts/real-run.sh [EPOCHS_FOR_RESNET20 (default 1)] [PYTHON_WITH_TORCH (default /tmp/t/bin/python)]
set -eu
here="$(cd "$(dirname "$0")/.." && pwd)"
epochs="${1:-1}"
python="${2:-/tmp/t/bin/python}"
cd "$here"
swift build -c release --product vision
vision="$here/.build/release/vision"
out="${RUNS:-$here/runs}"

data="${VISION_DATA:-$(mktemp -d "${TMPDIR:-/tmp}/vision-data.XXXXXX")}"
export VISION_DATA="$data"
if [ ! -d "$data/cifar10" ] && [ ! -d "$data/cifar-10-batches-bin" ]; then
    echo "extracting the CIFAR-10 JPEG set into $data"
    tar -xzf "$here/../shared/datasets/cifar10-jpeg.tar.gz" -C "$data"
fi

"$vision" train resnet18 --data fashion-mnist --epochs 1 --batch-size 64 --lr 0.1 --force -o "$out/real-resnet18-fashion-mnist"
"$vision" train resnet20 --data cifar --epochs "$epochs" --batch-size 64 --lr 0.1 --force -o "$out/real-resnet20-cifar"

if [ -x "$python" ]; then
    echo "PyTorch, same models and batch size, this machine:"
    "$python" "$here/scripts/torch_train_speed.py" --threads 2
else
    echo "no PyTorch at $python: python3 -m venv /tmp/t && /tmp/t/bin/pip install torch torchvision"
fi
