"""Golden values for vision's automatic augmentation (AugmentOperation, TrivialAugmentWide, RandAugment,
AutoAugment) from torchvision's tensor implementations.

Usage: python scripts/make_autoaugment_fixture.py  (needs torch and torchvision)
Writes Tests/VisionDataTests/Fixtures/autoaugment.safetensors: two uint8 input images (RGB 3x13x11 and
gray 1x9x12, stored as F32 byte values), and for every case `<name>` the output of
torchvision.transforms.autoaugment._apply_op (nearest interpolation, fill None) on them. The metadata
"cases" holds a JSON list of [name, image, operation, magnitude, "nearest"|"bilinear"]; magnitudes are float32
values, as the transforms' own bins are. "policies" holds AutoAugment's sub-policies per policy name, and
"spaces" the magnitude bins of RandAugment (31 bins), AutoAugment and AugMix (10 bins) for 32x32 and 13x11
images, and TrivialAugmentWide's (31 bins, any size): {"ra|aa|am/HxW" or "ta/any": {operation: [values…] or null}}.
"augmix" holds the plan of one AugMix call on the RGB image ("augmix.rgb"): Dirichlet weights fixed to (0.3, 0.7)
and (0.2, 0.5, 0.3), and the six operations of its three chains of two, as torch drew them.
"""
import json
import os

import torch
import torchvision
from torchvision.transforms import InterpolationMode
from torchvision.transforms import AugMix, AutoAugment, AutoAugmentPolicy, RandAugment, TrivialAugmentWide
from torchvision.transforms.autoaugment import _apply_op

from safetensors_io import write_safetensors

g = torch.Generator().manual_seed(7)
images = {
    "rgb": torch.randint(0, 256, (3, 13, 11), generator=g, dtype=torch.uint8),
    "gray": torch.randint(40, 200, (1, 9, 12), generator=g, dtype=torch.uint8),
}
# A skewed histogram so that equalize has work to do on the RGB image's first channel.
images["rgb"][0] = (images["rgb"][0] // 4) + 30

ops = [
    ("Identity", [0.0]), ("ShearX", [0.3, -0.8]), ("ShearY", [0.5, -0.2]), ("TranslateX", [5.0, -11.7]),
    ("TranslateY", [3.2, -6.0]), ("Rotate", [30.0, -100.5]), ("Brightness", [0.4, -0.6]), ("Color", [0.7, -0.9]),
    ("Contrast", [0.5, -0.3]), ("Sharpness", [0.9, -0.5]), ("Posterize", [2.0, 5.0]), ("Solarize", [128.0, 42.5]),
    ("AutoContrast", [0.0]), ("Equalize", [0.0]), ("Invert", [0.0]),
]
tensors = {f"input.{k}": v.float() for k, v in images.items()}
cases = []
for image_name, image in images.items():
    for op, magnitudes in ops:
        for m in magnitudes:
            m = float(torch.tensor(m, dtype=torch.float32))  # as TrivialAugmentWide draws them: float32 bins
            name = f"{image_name}.{op}.{m}"
            out = _apply_op(image, op, m, interpolation=InterpolationMode.NEAREST, fill=None)
            tensors[name] = out.float()
            cases.append([name, image_name, op, m, "nearest"])
# The geometric operations with bilinear sampling (AugMix's default): uint8 results rounded from grid_sample.
for op, m in [("ShearX", 0.3), ("ShearY", -0.2), ("Rotate", 30.0), ("Rotate", -100.5), ("TranslateX", 5.0)]:
    m = float(torch.tensor(m, dtype=torch.float32))
    name = f"rgb.{op}.{m}.bilinear"
    tensors[name] = _apply_op(images["rgb"], op, m, interpolation=InterpolationMode.BILINEAR, fill=None).float()
    cases.append([name, "rgb", op, m, "bilinear"])

# AugMix's mixing: fixed Dirichlet weights (torchvision's _sample_dirichlet, overridden as its tests do), chains of
# two operations drawn by torch's generator and recorded through _apply_op, bilinear, on the RGB image.
import torchvision.transforms.autoaugment as autoaugment_module


class FixedAugMix(AugMix):
    def _sample_dirichlet(self, params):
        return torch.tensor([[0.3, 0.7]]) if params.shape[-1] == 2 else torch.tensor([[0.2, 0.5, 0.3]])


recorded = []
original_apply_op = autoaugment_module._apply_op


def recording_apply_op(img, op_name, magnitude, interpolation, fill):
    recorded.append([op_name, magnitude])
    return original_apply_op(img, op_name, magnitude, interpolation=interpolation, fill=fill)


autoaugment_module._apply_op = recording_apply_op
torch.manual_seed(5)
tensors["augmix.rgb"] = FixedAugMix(chain_depth=2)(images["rgb"]).float()
autoaugment_module._apply_op = original_apply_op
augmix = {"original": 0.3, "augmented": 0.7, "chains": [0.2, 0.5, 0.3], "steps": recorded}

here = os.path.dirname(os.path.abspath(__file__))
policies = {
    policy.value: [[list(step) for step in pair] for pair in AutoAugment(policy)._get_policies(policy)]
    for policy in AutoAugmentPolicy
}
spaces = {}
space = TrivialAugmentWide()._augmentation_space(31)
spaces["ta/any"] = {op: ([float(v) for v in values.tolist()] if values.ndim > 0 else None) for op, (values, _) in space.items()}
for key, transform, bins in [("ra", RandAugment(), 31), ("aa", AutoAugment(), 10), ("am", AugMix(), 10)]:
    for size in [(32, 32), (13, 11)]:
        space = transform._augmentation_space(bins, size)
        spaces[f"{key}/{size[0]}x{size[1]}"] = {
            op: ([float(v) for v in values.tolist()] if values.ndim > 0 else None) for op, (values, _) in space.items()
        }

target = os.path.join(here, "..", "Tests", "VisionDataTests", "Fixtures", "autoaugment.safetensors")
write_safetensors(target, tensors, {"cases": json.dumps(cases), "policies": json.dumps(policies),
                                    "spaces": json.dumps(spaces), "augmix": json.dumps(augmix), "generator": f"torchvision {torchvision.__version__}"})
print(target, len(cases), "cases")
