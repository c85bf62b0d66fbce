#!/bin/sh
# Transfer learning, measured end to end with `vision` commands on real CIFAR-10 images:
#   1. pretrain a ResNet-20 on the six animal classes (30,000 training images);
#   2. on the four vehicle classes with only 50 labelled images per class, compare with the same
#      budget (epochs, batch size): (a) training from scratch, (b) the pretrained backbone frozen with
#      a new head, (c) fine-tuning everything with the backbone at 0.1× the learning rate;
#   3. evaluate each on the 4,000 vehicle test images and print the three accuracies.
# Usage: scripts/transfer-learning.sh [PRETRAIN_EPOCHS (30)] [FINETUNE_EPOCHS (30)]
# Environment: VISION_DATA (where cifar10/ is or gets extracted), RUNS (default ./runs/transfer),
# VISION_BIN (a built `vision` to use instead of building one).
set -eu
here="$(cd "$(dirname "$0")/.." && pwd)"
pretrain_epochs="${1:-30}"
finetune_epochs="${2:-30}"
cd "$here"
if [ -n "${VISION_BIN:-}" ]; then
    vision="$VISION_BIN"
else
    swift build -c release --product vision
    vision="$here/.build/release/vision"
fi
runs="${RUNS:-$here/runs/transfer}"
data="${VISION_DATA:-$here/datasets}"
mkdir -p "$runs" "$data"
if [ ! -d "$data/cifar10/train" ]; then
    echo "extracting the CIFAR-10 JPEG set into $data"
    tar -xzf "$here/../shared/datasets/cifar10-jpeg.tar.gz" -C "$data"
fi

# Class-folder views built from symbolic links (no copies).
views="$runs/data"
rm -rf "$views"
for split in train test; do
    for c in bird cat deer dog frog horse; do
        mkdir -p "$views/animals/$split"
        ln -s "$data/cifar10/$split/$c" "$views/animals/$split/$c"
    done
    for c in airplane automobile ship truck; do
        mkdir -p "$views/vehicles-50/$split/$c"
        if [ "$split" = train ]; then
            ls "$data/cifar10/train/$c" | sort | head -n 50 | while read -r f; do
                ln -s "$data/cifar10/train/$c/$f" "$views/vehicles-50/train/$c/$f"
            done
        else
            rmdir "$views/vehicles-50/test/$c"
            ln -s "$data/cifar10/test/$c" "$views/vehicles-50/test/$c"
        fi
    done
done

common="--epochs $finetune_epochs --batch-size 32 --seed 1"
if [ ! -f "$runs/animals/run.json" ] || ! grep -q "\"epochsCompleted\" : $pretrain_epochs" "$runs/animals/run.json"; then
    if [ -f "$runs/animals/run.json" ]; then
        "$vision" train --resume "$runs/animals"
    else
        "$vision" train resnet20 --data "$views/animals" --epochs "$pretrain_epochs" --batch-size 128 --lr 0.1 -o "$runs/animals"
    fi
fi
"$vision" train resnet20 --data "$views/vehicles-50" $common --lr 0.05 --force -o "$runs/a-scratch"
"$vision" finetune --from "$runs/animals" --data "$views/vehicles-50" $common --lr 0.05 --freeze backbone --force -o "$runs/b-frozen"
"$vision" finetune --from "$runs/animals" --data "$views/vehicles-50" $common --lr 0.05 --backbone-lr-scale 0.1 --force -o "$runs/c-finetune"

echo
echo "| variant | vehicle test accuracy (4,000 images) |"
echo "|---|---|"
for v in a-scratch b-frozen c-finetune; do
    # The last epoch's weights: best.safetensors is picked on these same test images.
    acc=$("$vision" evaluate --weights "$runs/$v/last.safetensors" --data "$views/vehicles-50" --workers 2 | sed -n 's/.*  accuracy: \([0-9.]*\).*/\1/p')
    echo "| $v | $acc |"
done
