#!/usr/bin/env python3
"""CIFAR-10 ResNet-20 in PyTorch with `vision`'s recipe, to compare training accuracy on identical data.

The reference run (issue 7's CIFAR-10 ResNet-20) is
    VISION_DATA=ROOT vision train resnet20 --data cifar --epochs 164 --batch-size 128 --lr 0.1 \
        --weight-decay 1e-4 --schedule step --seed 1 --workers 2
and this script is its PyTorch counterpart:
    python3 scripts/torch_cifar_resnet20.py --data ROOT --out runs/torch-resnet20-cifar10
    python3 scripts/torch_cifar_resnet20.py --data ROOT --out runs/torch-resnet20-cifar10 --resume
    (add --preload to decode the images once and augment in-process: the same distribution, faster on 2 cores)
Needs torch, torchvision and Pillow. Prints one line per epoch and writes DIR/checkpoint.pt (every epoch,
atomically) and DIR/metrics.csv (the same columns as vision's metrics.csv).

Each point of the recipe, and where it was confirmed in the Swift sources:

Model (Sources/VisionModels/ResNet.swift, `CIFARResNet`, built by Registry.swift for "resnet20"):
  - 3x3 stem conv 3->16 (padding 1, no bias), BN, ReLU; three stages of n = (depth-2)/6 = 3 BasicBlocks with
    16 << stage = 16/32/64 channels; stride 2 at the first block of stages 2 and 3; adaptive average pool
    to 1x1, flatten, Linear(64, 10) (`CIFARResNet.init`, `features`).
  - BasicBlock: relu(bn1(conv1(x))), then relu(bn2(conv2(.)) + shortcut(x)); 3x3 convs without bias
    (`BasicBlock.forward`; `conv3x3` in Sources/VisionModels/Common.swift).
  - Option-A shortcut (`PadShortcut`), only where stride != 1 or channels change: subsampling by a 1x1
    max-pool with stride 2, i.e. exactly x[:, :, ::2, ::2] (output ceil(H/2), pixels 0, 2, 4, ...); the
    missing channels are zeros split floor(missing/2) BEFORE and the rest AFTER the input channels
    (16 -> 32: 8 zero channels, the 16 input channels, 8 zero channels).
  - Initialisation (`initialiseConvolutionsAndNorms`, Sources/VisionModels/Common.swift, applied to every
    module): conv weights kaiming normal, fan_out, ReLU gain (std = sqrt(2 / (out*k*k))), conv biases 0
    (none here); BN weight 1, bias 0. The Linear head is NOT re-initialised: it keeps the layer default
    `Init.pytorchDefault` (Sources/VisionNN/Convolution.swift `Linear.init`, Sources/VisionNN/Initializers.swift):
    weight kaiming uniform a = sqrt(5), i.e. U(-1/sqrt(64), 1/sqrt(64)), bias U(-1/sqrt(64), 1/sqrt(64)) -
    exactly nn.Linear's own default, so it is left as is here.
  - BatchNorm eps 1e-5, momentum 0.1, running variance unbiased (Sources/VisionNN/Normalization.swift,
    Sources/VisionCore/Normalization.swift) - PyTorch's defaults.

Data (`--data cifar` resolves in Sources/VisionData/DatasetCatalog.swift: $VISION_DATA, then ./datasets;
ROOT/cifar-10-batches-bin first if present, else the image tree ROOT/cifar10/{train,test}):
  - ImageFolder (Sources/VisionData/ImageFolder.swift): class folders sorted by name, label = position;
    files *.png/*.jpg/*.jpeg (extension case-insensitive) found recursively, hidden entries skipped, sorted by
    path; decoded to 3 channels (RGB), bytes / 255. Decoded here with PIL + convert("RGB"); both decoders
    are libjpeg with default (islow DCT, fancy upsampling) settings. Test classes must equal train classes
    (DataSetup.prepareFolder's check, applied here too).
  - Normalisation for the name 'cifar' (`DatasetDefaults.normalization`, Sources/VisionTools/DataSetup.swift,
    also recorded in the reference run's run.json): mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
  - Training transform (`DataSetup.classificationTransform`, preset "standard", `prepareNamed`): side = 32
    from the first training image, padding = side/8 = 4 (side >= 32), RandomCrop(32) of the zero-padded image
    (pad before Normalize, so the padding is black; offsets uniform in 0...8 as torchvision,
    Sources/VisionData/GeometricTransforms.swift `RandomCrop`), RandomHorizontalFlip p = 0.5, Normalize.
    Test transform: Normalize only (FitSize is a no-op at 32x32).
  - --limit N (`DataSetup.prepare` / `DataSetup.head`): training uses the first N of a permutation drawn by
    SeededGenerator(seed ^ 0x5EED), the test set the first N of one drawn by SeededGenerator((seed + 1) ^ 0x5EED)
    (Fisher-Yates `shuffledIndices`, Sources/VisionData/Subset.swift). The generator (SplitMix64-seeded
    xoshiro256**, Sources/VisionCore/Random.swift) and Swift's `next(upperBound:)` are re-implemented below,
    so --limit selects the same images as `vision train --limit N` (a port, not checked against a Swift run).
  - Loader (Trainer.init, Sources/VisionTools/Trainer.swift): batch 128, reshuffled every epoch,
    drop_last exactly when the training set is larger than one batch; test batches of max(batch, 128).

Optimisation (Sources/VisionTools/Trainer.swift `makeOptimizer`, `makeSchedule`, `trainOneEpoch`):
  - SGD, momentum 0.9 (CLI default, Sources/VisionCLI/Support.swift), dampening 0, nesterov off ("sgd"),
    L2 weight decay added to the gradient, momentum buffer started at the first decayed gradient
    (Sources/VisionOptim/SGD.swift) - torch.optim.SGD's algorithm.
  - Weight decay 1e-4 only on tensors of rank >= 2 (conv and fc weights); biases and BN weights/biases
    (rank <= 1) in a group with decay 0 (`ParameterGroup.splittingWeightDecay`,
    Sources/VisionOptim/ParameterGroup.swift). With --norm-weight-decay / --bias-weight-decay (as
    `vision train`'s options of those names): three groups, every bias, the BN scales and the rest,
    in that layout (`splittingWeightDecay(_:of:normWeightDecay:biasWeightDecay:)`, `Trainer.makeOptimizer`).
  - lr 0.1, schedule "step": total = epochs * batches_per_epoch, milestones max(1, total/2) and
    max(1, total*3/4) (integer division) in BATCH steps, lr = 0.1 * 0.1^(milestones <= step); the lr for
    global step epoch*batches + index is set before each batch (`MultiStepLR`, Sources/VisionOptim/Schedules.swift).
    No warm-up (warmupEpochs 0).
  - Loss: mean cross-entropy, label smoothing 0 (`crossEntropy(..., labelSmoothing: 0)`).
  - Reported like vision: train loss/accuracy are running means over the epoch's batches in train mode;
    test loss/accuracy from an eval-mode pass; lr is the last batch's; img/s counts the training phase only;
    seconds include the test pass (`EpochRecord`, Sources/VisionTools/RunConfig.swift).

Unavoidable differences: random streams. Initial weights, shuffling order and crop/flip draws come from
torch's generators, not vision's SeededGenerator, so the runs match in distribution, not bit for bit (only the
--limit subset is reproduced exactly). Float summation order in convolutions differs as usual. As in vision,
the shuffle depends only on (seed, epoch) and each sample's augmentation on (seed, epoch, index), so results do
not depend on --workers and a --resume'd run repeats an uninterrupted one (checked with --threads 1).
"""
import argparse
import hashlib
import math
import os
import random
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # DatasetDefaults.normalization(for: "cifar")
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGE_EXTENSIONS = {"png", "jpg", "jpeg"}  # ImageFolder.defaultExtensions
MOMENTUM = 0.9
CSV_HEADER = "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,val_mean_iou,val_dice,seconds,images_per_second"
# Arguments a resumed run must share with the checkpoint (--epochs may grow; the schedule then follows it).
RECIPE_KEYS = ("batch_size", "lr", "weight_decay", "norm_weight_decay", "bias_weight_decay", "seed", "limit")

# ---------------------------------------------------------------------------------------------------------
# vision's SeededGenerator (Sources/VisionCore/Random.swift), for the --limit subsets only.

_M64 = (1 << 64) - 1


class SwiftSeededGenerator:
    """SplitMix64-seeded xoshiro256** with Swift's `next(upperBound:)`, as in vision."""

    def __init__(self, seed):
        state, words = seed & _M64, []
        for _ in range(4):
            state = (state + 0x9E3779B97F4A7C15) & _M64
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
            words.append(z ^ (z >> 31))
        self.s = words

    def next(self):
        s0, s1, s2, s3 = self.s
        times5 = (s1 * 5) & _M64
        result = ((((times5 << 7) | (times5 >> 57)) & _M64) * 9) & _M64
        t = (s1 << 17) & _M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & _M64
        self.s = [s0, s1, s2, s3]
        return result

    def next_int(self, upper):
        """An integer in [0, upper): Lemire's multiply-high with rejection, as Swift's stdlib."""
        product = self.next() * upper
        if (product & _M64) < upper:
            threshold = ((1 << 64) - upper) % upper
            while (product & _M64) < threshold:
                product = self.next() * upper
        return product >> 64


def swift_shuffled_indices(count, generator):
    order = list(range(count))
    for i in range(count - 1, 0, -1):  # shuffledIndices, Sources/VisionData/Subset.swift
        j = generator.next_int(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def vision_head(count, limit, seed):
    """Indices `DataSetup.head(dataset, limit, seed:)` keeps: all when the set is no larger than `limit`."""
    if count <= limit:
        return list(range(count))
    return swift_shuffled_indices(count, SwiftSeededGenerator(seed ^ 0x5EED))[:limit]


# ---------------------------------------------------------------------------------------------------------
# Data


def scan_image_folder(root):
    """(class names, [(path, label)]) as vision's ImageFolder lists them."""
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        sys.exit(f"{root}: expected one sub-folder per class (root/<class>/image.jpg)")
    samples = []
    for label, name in enumerate(classes):
        files = []
        for directory, subdirs, names in os.walk(os.path.realpath(os.path.join(root, name))):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            files += [os.path.join(directory, n) for n in names
                      if not n.startswith(".") and n.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS and "." in n]
        if not files:
            sys.exit(f"{os.path.join(root, name)}: class folder has no jpeg/jpg/png files")
        samples += [(path, label) for path in sorted(files)]
    return classes, samples


class ImageList(Dataset):
    """(path, label) samples; with `seed` set, sample i of epoch e is augmented from its own seed (as vision's
    DataLoader.sampleGenerator), so augmentation does not depend on --workers and a resumed run repeats."""

    def __init__(self, samples, transform, seed=None):
        self.samples, self.transform, self.seed, self.epoch = samples, transform, seed, 0

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        with Image.open(path) as image:
            image = image.convert("RGB")
        if self.seed is not None:
            torch.manual_seed(derived_seed(self.seed, self.epoch, f"sample {index}"))
        return self.transform(image), label


def resolve_tree(root):
    """ROOT/cifar10 (what `--data cifar` finds), or ROOT itself when it holds train/ and test/."""
    if os.path.isdir(os.path.join(root, "cifar-10-batches-bin")):
        print(f"warning: {root}/cifar-10-batches-bin exists; `vision train --data cifar` would train on that "
              "binary set, not on the JPEG tree used here", flush=True)
    for candidate in (os.path.join(root, "cifar10"), root):
        if os.path.isdir(os.path.join(candidate, "train")) and os.path.isdir(os.path.join(candidate, "test")):
            return candidate
    sys.exit(f"no cifar10/{{train,test}}/<class>/ image tree under {root} (set --data or $VISION_DATA)")


def build_datasets(args):
    tree = resolve_tree(args.data)
    classes, train = scan_image_folder(os.path.join(tree, "train"))
    test_classes, test = scan_image_folder(os.path.join(tree, "test"))
    if test_classes != classes:
        sys.exit(f"test classes {test_classes} differ from the training classes {classes}")
    with Image.open(train[0][0]) as probe:
        side = max(probe.size)  # prepareNamed: side = max(height, width) of the first training image
    padding = side // 8 if side >= 32 else max(2, side // 14)
    if args.limit is not None:
        train = [train[i] for i in vision_head(len(train), args.limit, args.seed)]
        test = [test[i] for i in vision_head(len(test), args.limit, (args.seed + 1) & _M64)]
    normalize = T.Compose([T.ToTensor(), T.Normalize(CIFAR_MEAN, CIFAR_STD)])
    train_transform = T.Compose([T.RandomCrop(side, padding=padding, fill=0, padding_mode="constant"),
                                 T.RandomHorizontalFlip(0.5), normalize])
    return classes, ImageList(train, train_transform, args.seed), ImageList(test, normalize), tree, side, padding


class PreloadedImages:
    """An ImageList decoded once: uint8 pixels [N, 3, H, W] and int64 labels, for --preload."""

    def __init__(self, image_list):
        samples = image_list.samples
        with Image.open(samples[0][0]) as probe:
            width, height = probe.size
        self.pixels = torch.empty(len(samples), 3, height, width, dtype=torch.uint8)
        for i, (path, _) in enumerate(samples):
            with Image.open(path) as image:
                rgb = image.convert("RGB")
            if rgb.size != (width, height):
                sys.exit(f"{path}: {rgb.size[0]}x{rgb.size[1]}, the first image is {width}x{height} (--preload "
                         "needs one size)")
            self.pixels[i] = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(height, width, 3).permute(2, 0, 1)
        self.labels = torch.tensor([label for _, label in samples], dtype=torch.int64)

    def __len__(self):
        return len(self.labels)


_MEAN_NCHW = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
_STD_NCHW = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)


def normalized(pixels):
    """uint8 [N, 3, H, W] -> Normalize(CIFAR_MEAN, CIFAR_STD) of pixels / 255, as the ImageList transforms."""
    return (pixels.float() / 255 - _MEAN_NCHW) / _STD_NCHW


def preloaded_train_batches(data, padding, batch_size, drop_last, seed, epoch):
    """Batches of one epoch: a permutation and per-image crop offsets and flips drawn from (seed, epoch) alone,
    RandomCrop of the zero-padded image (padding before Normalize: black borders) and flip p = 0.5."""
    n, (_, _, height, width) = len(data), data.pixels.shape
    generator = torch.Generator().manual_seed(derived_seed(seed, epoch, "preload"))
    order = torch.randperm(n, generator=generator)
    tops = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    lefts = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    padded = F.pad(data.pixels, (padding, padding, padding, padding)) if padding else data.pixels
    count = n // batch_size if drop_last else math.ceil(n / batch_size)
    for b in range(count):
        indices = order[b * batch_size:(b + 1) * batch_size]
        crops = torch.stack([padded[i, :, tops[i]:tops[i] + height, lefts[i]:lefts[i] + width]
                             for i in indices.tolist()])
        crops = torch.where(flips[indices].view(-1, 1, 1, 1), crops.flip(3), crops)
        yield normalized(crops), data.labels[indices]


def preloaded_test_batches(pixels, labels, batch_size):
    for start in range(0, len(labels), batch_size):
        yield pixels[start:start + batch_size], labels[start:start + batch_size]


# ---------------------------------------------------------------------------------------------------------
# Model


class PadShortcut(nn.Module):
    """Option A: every `stride`-th pixel, zero channels split floor(missing/2) before, the rest after."""

    def __init__(self, out_channels, stride):
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x):
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        missing = self.out_channels - x.shape[1]
        if missing <= 0:
            return x
        before = missing // 2
        return F.pad(x, (0, 0, 0, 0, before, missing - before))


class BasicBlock(nn.Module):
    def __init__(self, in_channels, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.bn2(self.conv2(out)) + identity)


class CIFARResNet(nn.Module):
    """He et al. 2015 §4.2 CIFAR ResNet; parameter names match vision's state dict (conv1, bn1, layerK.i.*, fc)."""

    def __init__(self, depth=20, num_classes=10, in_channels=3):
        super().__init__()
        assert (depth - 2) % 6 == 0, f"CIFAR ResNet depth must be 6n+2, got {depth}"
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        channels = 16
        for stage in range(3):
            planes = 16 << stage
            blocks = []
            for j in range(n):
                stride = 2 if stage > 0 and j == 0 else 1
                shortcut = PadShortcut(planes, stride) if stride != 1 or channels != planes else None
                blocks.append(BasicBlock(channels, planes, stride, shortcut))
                channels = planes
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)  # keeps nn.Linear's default init, as vision's Linear
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ---------------------------------------------------------------------------------------------------------
# Training


def derived_seed(seed, epoch, purpose):
    """A seed that depends only on (seed, epoch, purpose), so a resumed run repeats an uninterrupted one."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def step_lr(base, step, total):
    """vision's "step" schedule: ×0.1 at total/2 and 3·total/4 batch steps (MultiStepLR)."""
    milestones = [max(1, total // 2), max(1, total * 3 // 4)]
    return base * 0.1 ** sum(1 for m in milestones if m <= step)


def worker_init(_):
    torch.set_num_threads(1)


def atomic_write(path, write):
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_metrics(path, history):
    def text(temporary):
        with open(temporary, "w") as f:
            f.write(CSV_HEADER + "\n")
            for r in history:
                f.write(f"{r['epoch']},{r['lr']:.9g},{r['train_loss']:.6f},{r['train_accuracy']:.6f},"
                        f"{r['val_loss']:.6f},{r['val_accuracy']:.6f},,,{r['seconds']:.2f},{r['images_per_second']:.1f}\n")
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, text)


def evaluate(model, loader):
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            seen += labels.numel()
    model.train()
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def parameter_groups(model, named, args):
    """vision's groups: two by rank, or with either BN/bias option three by layer kind (empty ones left out)."""
    if args.norm_weight_decay is None and args.bias_weight_decay is None:
        return [{"params": [p for _, p in named if p.dim() > 1], "weight_decay": args.weight_decay, "name": "decay"},
                {"params": [p for _, p in named if p.dim() <= 1], "weight_decay": 0.0, "name": "no_decay"}]
    norm_layers = {name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    kinds = {"decay": [], "norm": [], "bias": []}
    for name, p in named:
        owner, _, leaf = name.rpartition(".")
        kinds["bias" if leaf == "bias" else "norm" if owner in norm_layers else "decay"].append(p)
    decay = {"decay": args.weight_decay, "norm": args.norm_weight_decay or 0.0, "bias": args.bias_weight_decay or 0.0}
    return [{"params": ps, "weight_decay": decay[k], "name": k} for k, ps in kinds.items() if ps]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("VISION_DATA") or "./datasets",
                   help="root holding cifar10/{train,test}/<class>/*.jpg (default: $VISION_DATA or ./datasets)")
    p.add_argument("--epochs", type=int, default=164)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--norm-weight-decay", type=float, default=None,
                   help="weight decay of BN scales (default: vision's rule, rank <= 1 undecayed)")
    p.add_argument("--bias-weight-decay", type=float, default=None, help="weight decay of every bias, BN shifts included")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (0: decode in-process)")
    p.add_argument("--limit", type=int, default=None,
                   help="train on vision's seeded subset of N images, test on N (as vision train --limit)")
    p.add_argument("--out", default="runs/torch-resnet20-cifar10", help="checkpoint and metrics directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--stop-after", type=int, default=None, help="train at most this many more epochs, then stop")
    p.add_argument("--preload", action="store_true",
                   help="decode every image once into memory and augment whole batches in-process (no workers): "
                        "the same crop/flip distribution, about 1.5x the speed on 2 cores")
    args = p.parse_args()
    for name in ("epochs", "batch_size", "threads"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.limit is not None and args.limit <= 0:
        p.error("--limit must be positive")
    decays = [args.weight_decay] + [d for d in (args.norm_weight_decay, args.bias_weight_decay) if d is not None]
    if args.workers < 0 or args.lr <= 0 or not all(d >= 0 and math.isfinite(d) for d in decays):
        p.error("--workers and the weight decays must be non-negative, --lr positive")
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    checkpoint_path = os.path.join(args.out, "checkpoint.pt")
    checkpoint = None
    if args.resume:
        if not os.path.exists(checkpoint_path):
            sys.exit(f"--resume: no {checkpoint_path}")
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        differing = [k for k in RECIPE_KEYS if checkpoint["args"].get(k) != getattr(args, k)]
        if differing:
            sys.exit("--resume: " + ", ".join(f"--{k.replace('_', '-')} {getattr(args, k)} differs from the "
                                              f"checkpoint's {checkpoint['args'].get(k)}" for k in differing))
    elif os.path.exists(checkpoint_path):
        sys.exit(f"{checkpoint_path} exists: continue it with --resume, or choose another --out")

    classes, train_set, test_set, tree, side, padding = build_datasets(args)
    if checkpoint is not None and checkpoint["classes"] != classes:
        sys.exit(f"--resume: the checkpoint was trained on classes {checkpoint['classes']}, {tree} holds {classes}")
    drop_last = len(train_set) > args.batch_size
    batches = len(train_set) // args.batch_size if drop_last else math.ceil(len(train_set) / args.batch_size)
    total_steps = max(1, args.epochs * batches)
    if args.preload:
        started = time.perf_counter()
        train_data = PreloadedImages(train_set)
        test_data = PreloadedImages(test_set)
        test_pixels = normalized(test_data.pixels)
        test_loader = list(preloaded_test_batches(test_pixels, test_data.labels, max(args.batch_size, 128)))
        print(f"preloaded {len(train_data)} + {len(test_data)} images in {time.perf_counter() - started:.1f} s",
              flush=True)
    else:
        test_loader = DataLoader(test_set, batch_size=max(args.batch_size, 128), shuffle=False,
                                 num_workers=args.workers, worker_init_fn=worker_init)

    torch.manual_seed(args.seed)
    model = CIFARResNet(20, num_classes=len(classes))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = parameter_groups(model, named, args)
    optimizer = torch.optim.SGD(groups, lr=args.lr, momentum=MOMENTUM, dampening=0,
                                weight_decay=args.weight_decay, nesterov=False)

    first_epoch, step, history = 0, 0, []
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        first_epoch, step, history = checkpoint["epoch"], checkpoint["step"], checkpoint["history"]
        torch.set_rng_state(checkpoint["rng"]["torch"])
        random.setstate(checkpoint["rng"]["python"])
        if checkpoint["args"]["epochs"] != args.epochs:
            print(f"note: --epochs {args.epochs} (checkpoint: {checkpoint['args']['epochs']}); the step milestones "
                  f"now follow {total_steps} total steps", flush=True)
        print(f"resumed {checkpoint_path} after epoch {first_epoch} (step {step})", flush=True)

    print(f"data {tree}: {len(classes)} classes, train {len(train_set)} (crop {side} pad {padding}, flip), "
          f"test {len(test_set)}; {batches} batches/epoch of {args.batch_size}, drop_last {drop_last}; "
          f"{sum(p.numel() for p in model.parameters())} parameters; threads {args.threads}, "
          f"{'preloaded, augmented in-process' if args.preload else f'workers {args.workers}'}",
          flush=True)

    last_epoch = args.epochs if args.stop_after is None else min(args.epochs, first_epoch + args.stop_after)
    for epoch in range(first_epoch, last_epoch):
        model.train()
        train_set.epoch = epoch  # workers are started per epoch and copy it
        if args.preload:
            loader = preloaded_train_batches(train_data, padding, args.batch_size, drop_last, args.seed, epoch)
        else:
            order = torch.Generator().manual_seed(derived_seed(args.seed, epoch, "order"))
            loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=drop_last,
                                num_workers=args.workers, generator=order, worker_init_fn=worker_init)
        start = time.perf_counter()
        loss_sum, correct, seen, lr = 0.0, 0, 0, args.lr
        for index, (images, labels) in enumerate(loader):
            step = epoch * batches + index
            lr = step_lr(args.lr, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            value = loss.item()
            if not math.isfinite(value):
                sys.exit(f"non-finite loss {value} at epoch {epoch + 1}, batch {index + 1}")
            loss.backward()
            optimizer.step()
            loss_sum += value * labels.numel()
            correct += (logits.detach().argmax(1) == labels).sum().item()
            seen += labels.numel()
        step = (epoch + 1) * batches
        train_seconds = time.perf_counter() - start
        test_loss, test_accuracy = evaluate(model, test_loader)
        record = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / max(seen, 1),
                  "train_accuracy": correct / max(seen, 1), "val_loss": test_loss, "val_accuracy": test_accuracy,
                  "seconds": time.perf_counter() - start, "images_per_second": seen / max(train_seconds, 1e-9)}
        history.append(record)
        state = {"format": 1, "args": vars(args), "classes": classes, "epoch": epoch + 1, "step": step,
                 "model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history,
                 "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
                 "schedule": {"kind": "step", "total_steps": total_steps, "batches_per_epoch": batches}}
        atomic_write(checkpoint_path, lambda temporary: torch.save(state, temporary))
        write_metrics(os.path.join(args.out, "metrics.csv"), history)
        print(f"epoch {epoch + 1}/{args.epochs}  lr {lr:.4g}  train loss {record['train_loss']:.4f} "
              f"acc {record['train_accuracy']:.4f}  test loss {test_loss:.4f} acc {test_accuracy:.4f}  "
              f"{record['images_per_second']:.1f} img/s  {record['seconds']:.1f} s", flush=True)

    if history:
        best = max(history, key=lambda r: r["val_accuracy"])
        print(f"last epoch {history[-1]['epoch']}: test accuracy {history[-1]['val_accuracy']:.4f}; "
              f"best {best['val_accuracy']:.4f} at epoch {best['epoch']}", flush=True)


if __name__ == "__main__":
    main()
