"""Golden values for the ResNeXt / Wide ResNet tests in Tests/VisionModelsTests/ResNetVariantTests.swift.

Builds small torchvision ResNets with grouped and widened bottlenecks, fills every state-dict entry from
a formula both sides can compute (no weight file needed), and prints the eval-mode logits for a formula
input, plus torchvision's parameter counts of the named ResNeXt and Wide ResNet builders.

    python3 scripts/make_resnet_variant_goldens.py      # needs torch and torchvision
"""
import math

import torch
import torchvision
from torchvision.models.resnet import Bottleneck, ResNet


def formula(name, k, shape):
    """Entry i of the k-th key (sorted order, num_batches_tracked left out) named `name` of `shape`."""
    count = math.prod(shape)
    s = torch.sin(torch.arange(count, dtype=torch.float64) * 0.7071 + 1.3 * k + 0.5)
    if name.endswith("running_mean"):
        v = 0.1 * s
    elif name.endswith("running_var"):
        v = 1 + 0.5 * s
    elif name.endswith("bias"):
        v = 0.1 * s
    elif len(shape) == 1:
        v = 1 + 0.2 * s
    else:
        v = 2 / math.sqrt(count / shape[0]) * s
    return v.float().reshape(shape)


def layout_hash(state):
    """FNV-1a (64-bit) over the lines "name shape…" of the sorted keys: the torchvision layout in one number."""
    h = 0xcbf29ce484222325
    keys = sorted(k for k in state if not k.endswith("num_batches_tracked"))
    for line in (k + " " + " ".join(str(d) for d in state[k].shape) + "\n" for k in keys):
        for byte in line.encode():
            h = ((h ^ byte) * 0x100000001b3) % (1 << 64)
    return h


def logits(model, batch, side):
    state = model.state_dict()
    keys = sorted(k for k in state if not k.endswith("num_batches_tracked"))
    with torch.no_grad():
        for k, name in enumerate(keys):
            state[name].copy_(formula(name, k, tuple(state[name].shape)))
        count = batch * 3 * side * side
        x = torch.cos(torch.arange(count, dtype=torch.float64) * 0.013).float().reshape(batch, 3, side, side)
        return model.eval()(x)


def main():
    torch.manual_seed(0)
    cases = [("groups 4, width 8", dict(groups=4, width_per_group=8)),
             ("width 128", dict(width_per_group=128))]
    for label, kw in cases:
        model = ResNet(Bottleneck, [1, 2, 1, 1], num_classes=5, **kw)
        y = logits(model, 2, 48)
        print(label, sum(p.numel() for p in model.parameters()), hex(layout_hash(model.state_dict())))
        print("  " + ", ".join(f"{v:.6g}" for v in y.flatten().tolist()))
    with torch.device("meta"):
        for name in ["resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"]:
            model = getattr(torchvision.models, name)()
            print(name, sum(p.numel() for p in model.parameters()), hex(layout_hash(model.state_dict())))


if __name__ == "__main__":
    main()
