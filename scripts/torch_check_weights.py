#!/usr/bin/env python3
"""Score a CIFAR ResNet trained by `vision` with PyTorch: an independent check of the accuracy vision reports.

    python3 scripts/torch_check_weights.py WEIGHTS.safetensors [--data ROOT] [--train] [--threads N] [--tta flip]

WEIGHTS is a safetensors file written by `vision train` (last.safetensors, best.safetensors or a shipped
pretrained/ file, F32 or F16); its torchvision-style names load into the PyTorch twin of vision's CIFAR ResNet
(`CIFARResNet` in scripts/torch_cifar_resnet20.py), the depth, input channels, normalisation and dataset taken
from the file's `vision.config`. The data is read independently of vision:
  - CIFAR-10 (`--data cifar`): ROOT/cifar10/{train,test}/<class>/*.jpg, decoded with PIL;
  - Fashion-MNIST / MNIST: the gzipped IDX files in ROOT/<name> or /usr/share/datasets/<name> (Debian packages).
Prints the test loss and accuracy in eval mode (running BatchNorm statistics, what vision reports), the same
with batch statistics (a check of the running averages), with --tta flip also the test figures with each image's
softmax averaged with its mirror image's (what `vision evaluate --tta flip` reports), and with --train the accuracy
on the un-augmented training images. Needs torch, torchvision and Pillow; no safetensors package (the format is read here).
"""
import argparse
import gzip
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors  # noqa: E402
from torch_cifar_resnet20 import CIFAR_MEAN, CIFAR_STD, CIFARResNet, ImageList, scan_image_folder  # noqa: E402
import torchvision.transforms as T  # noqa: E402

IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path, rank):
    """The array in a gzipped IDX file (unsigned bytes, `rank` dimensions), as a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic != 0x0800 + rank:
        sys.exit(f"{path}: IDX magic {magic:#x}, expected {0x0800 + rank:#x}")
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    body = data[4 + 4 * rank:]
    count = 1
    for n in shape:
        count *= n
    if len(body) != count:
        sys.exit(f"{path}: {len(body)} bytes of data, the header says {shape}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def idx_split(name, root, split, mean, std):
    """(images [N, 1, H, W] normalised, labels) of an IDX dataset's split."""
    folder = next((d for d in (os.path.join(root, name), os.path.join("/usr/share/datasets", name))
                   if os.path.exists(os.path.join(d, IDX_FILES[split][0]))), None)
    if folder is None:
        sys.exit(f"{name}: no {IDX_FILES[split][0]} in {os.path.join(root, name)} or /usr/share/datasets/{name}")
    images = read_idx(os.path.join(folder, IDX_FILES[split][0]), 3).float().div(255).unsqueeze(1)
    labels = read_idx(os.path.join(folder, IDX_FILES[split][1]), 1).long()
    images = (images - mean[0]) / std[0]
    return torch.utils.data.TensorDataset(images, labels)


def score(model, loader, batch_statistics=False, flip=False):
    model.train(batch_statistics)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # batch statistics must leave the running ones as they are
            module.momentum = 0.0
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images)
            if flip:  # log of the mean of the two softmax distributions, without a log of 0
                logits = torch.logaddexp(logits.log_softmax(1), model(images.flip(-1)).log_softmax(1)) - math.log(2)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            seen += labels.numel()
    return loss_sum / seen, correct, seen


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights")
    p.add_argument("--data", default=os.environ.get("VISION_DATA") or "./datasets",
                   help="data root (default $VISION_DATA, else ./datasets)")
    p.add_argument("--train", action="store_true", help="also score the (un-augmented) training images")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--tta", choices=["none", "flip"], default="none",
                   help="flip: also score the test images averaged with their mirror images")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    tensors, metadata = read_safetensors(args.weights)
    tensors = {name: tensor.float() for name, tensor in tensors.items()}
    config = json.loads(metadata.get("vision.config", "{}"))
    model_name = config.get("model", "resnet20")
    if not (model_name.startswith("resnet") and model_name[6:].isdigit()):
        sys.exit(f"{args.weights}: model {model_name!r} is not a CIFAR ResNet (resnet20/32/44/56/110)")
    depth = int(model_name[6:])
    classes = config.get("classNames")
    dataset = config.get("data", "cifar").lower().replace("_", "-")
    preprocessing = config.get("preprocessing", {})
    mean, std = preprocessing.get("mean", CIFAR_MEAN), preprocessing.get("std", CIFAR_STD)
    model = CIFARResNet(depth=depth, num_classes=tensors["fc.weight"].shape[0], in_channels=tensors["conv1.weight"].shape[1])
    expected = model.state_dict()
    wrong = sorted(set(tensors) ^ {k for k in expected if not k.endswith("num_batches_tracked")})
    if wrong:
        sys.exit(f"{args.weights}: names differ from the PyTorch model: {wrong[:8]}")
    for name, tensor in tensors.items():
        if name in expected and tuple(tensor.shape) != tuple(expected[name].shape):
            sys.exit(f"{args.weights}: {name} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}")
    model.load_state_dict(tensors, strict=False)

    transform = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
    splits = ["test"] + (["train"] if args.train else [])
    print(f"{args.weights}: resnet{depth} on {dataset}, epoch {metadata.get('vision.epoch', '?')}")
    for split in splits:
        if dataset in ("fashion-mnist", "fashionmnist", "mnist"):
            data = idx_split("mnist" if dataset == "mnist" else "fashion-mnist", args.data, split, mean, std)
        elif dataset in ("cifar", "cifar10", "cifar-10"):
            root = os.path.join(args.data, "cifar10", split)
            names, samples = scan_image_folder(root)
            if classes and names != classes:
                sys.exit(f"{root}: class folders {names} differ from the weights' classes {classes}")
            data = ImageList(samples, transform)
        else:
            sys.exit(f"{args.weights}: trained on {dataset!r}; this check reads cifar, fashion-mnist and mnist")
        loader = DataLoader(data, batch_size=args.batch_size, num_workers=0)
        loss, correct, seen = score(model, loader)
        print(f"{split}: eval-mode BatchNorm   loss {loss:.4f}  accuracy {correct / seen:.4f} ({correct}/{seen})")
        if split == "test" and args.tta == "flip":
            loss, correct, seen = score(model, loader, flip=True)
            print(f"{split}: with mirror images     loss {loss:.4f}  accuracy {correct / seen:.4f} ({correct}/{seen})")
        if split == "test":  # shuffled: the CIFAR folder order is class by class
            shuffled = DataLoader(data, batch_size=args.batch_size, shuffle=True,
                                  generator=torch.Generator().manual_seed(0))
            loss, correct, seen = score(model, shuffled, batch_statistics=True)
            print(f"{split}: batch statistics (batches of {args.batch_size})  loss {loss:.4f}  "
                  f"accuracy {correct / seen:.4f} ({correct}/{seen})")


if __name__ == "__main__":
    main()
