#!/usr/bin/env python3
"""Score a CIFAR ResNet trained by `vision` with PyTorch: an independent check of the accuracy vision reports.

    python3 scripts/torch_check_cifar_weights.py WEIGHTS.safetensors --data ROOT [--train] [--threads N]

WEIGHTS is a safetensors file written by `vision train` (last.safetensors, best.safetensors or a shipped
pretrained/ file, F32 or F16); its torchvision-style names load into the PyTorch twin of vision's CIFAR ResNet
(`CIFARResNet` in scripts/torch_cifar_resnet20.py), the depth taken from the file's `vision.config`. ROOT holds
cifar10/{train,test}/<class>/*.jpg, decoded with PIL and normalised as vision does. Prints the test loss and
accuracy in eval mode (running BatchNorm statistics, what vision reports), the same with batch statistics
(a check of the running averages), and with --train the accuracy on the un-augmented training images.
Needs torch, torchvision and Pillow; no safetensors package (the format is read here).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors  # noqa: E402
from torch_cifar_resnet20 import CIFAR_MEAN, CIFAR_STD, CIFARResNet, ImageList, scan_image_folder  # noqa: E402
import torchvision.transforms as T  # noqa: E402

def score(model, loader, batch_statistics=False):
    model.train(batch_statistics)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # batch statistics must leave the running ones as they are
            module.momentum = 0.0
    loss_sum, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(1) == labels).sum().item()
            seen += labels.numel()
    return loss_sum / seen, correct, seen


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("weights")
    p.add_argument("--data", default=os.environ.get("VISION_DATA") or "./datasets")
    p.add_argument("--train", action="store_true", help="also score the (un-augmented) training images")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=500)
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
    model = CIFARResNet(depth=depth, num_classes=tensors["fc.weight"].shape[0])
    expected = model.state_dict()
    wrong = sorted(set(tensors) ^ {k for k in expected if not k.endswith("num_batches_tracked")})
    if wrong:
        sys.exit(f"{args.weights}: names differ from the PyTorch model: {wrong[:8]}")
    for name, tensor in tensors.items():
        if name in expected and tuple(tensor.shape) != tuple(expected[name].shape):
            sys.exit(f"{args.weights}: {name} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}")
    model.load_state_dict(tensors, strict=False)

    transform = T.Compose([T.ToTensor(), T.Normalize(CIFAR_MEAN, CIFAR_STD)])
    splits = ["test"] + (["train"] if args.train else [])
    print(f"{args.weights}: resnet{depth}, epoch {metadata.get('vision.epoch', '?')}")
    for split in splits:
        root = os.path.join(args.data, "cifar10", split)
        names, samples = scan_image_folder(root)
        if classes and names != classes:
            sys.exit(f"{root}: class folders {names} differ from the weights' classes {classes}")
        loader = DataLoader(ImageList(samples, transform), batch_size=args.batch_size, num_workers=0)
        loss, correct, seen = score(model, loader)
        print(f"{split}: eval-mode BatchNorm   loss {loss:.4f}  accuracy {correct / seen:.4f} ({correct}/{seen})")
        if split == "test":  # shuffled: the folder order is class by class
            shuffled = DataLoader(ImageList(samples, transform), batch_size=args.batch_size, shuffle=True,
                                  generator=torch.Generator().manual_seed(0))
            loss, correct, seen = score(model, shuffled, batch_statistics=True)
            print(f"{split}: batch statistics (batches of {args.batch_size})  loss {loss:.4f}  "
                  f"accuracy {correct / seen:.4f} ({correct}/{seen})")


if __name__ == "__main__":
    main()
