"""Golden values for vision's affine and elastic warps (ImageOps.affine, ImageOps.gridSample, RandomAffine,
ElasticTransform, RandomPerspective) and Gaussian blur (ImageOps.gaussianBlur, GaussianBlur) from torchvision's tensor functions.

Usage: python scripts/make_transform_fixture.py  (needs torch and torchvision)
Writes Tests/VisionDataTests/Fixtures/transforms.safetensors: a float32 RGB input 3x9x12 with values in [0, 1]
("input"), and for every case `<name>` the output of torchvision.transforms.functional on it:
- "affine.*": F.affine(input, angle, translate, scale, shear, interpolation, fill=None) — zeros outside the image;
  metadata "affine" lists [name, angle, [tx, ty], scale, [shear_x, shear_y], "nearest"|"bilinear"].
- "blur.*": F.gaussian_blur(input, [kx, ky], [sigma_x, sigma_y]) (reflect padding); metadata "blur" lists
  [name, [kx, ky], [sigma_x, sigma_y]].
- "elastic.nearest|bilinear": F.elastic_transform(input, displacement, interpolation) for the displacement field
  "elastic.displacement" ([H, W, 2], x then y, normalised units; fill None).
- "perspective.*": F.perspective(input, startpoints, endpoints, interpolation); metadata "perspective" lists
  [name, startpoints, endpoints, "nearest"|"bilinear"].
"""
import json
import os

import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

from safetensors_io import write_safetensors

g = torch.Generator().manual_seed(11)
image = torch.rand((3, 9, 12), generator=g)
parameters = [
    ("rotate", 30.0, [0, 0], 1.0, [0.0, 0.0]),
    ("rotate-translate", -47.5, [2, -1], 1.0, [0.0, 0.0]),
    ("scale", 0.0, [0, 0], 0.8, [0.0, 0.0]),
    ("shear", 0.0, [0, 0], 1.0, [12.0, -7.0]),
    ("everything", 17.0, [-3, 2], 1.3, [-20.0, 5.0]),
]
tensors = {"input": image}
cases = []
for name, angle, translate, scale, shear in parameters:
    for mode, interpolation in [("nearest", InterpolationMode.NEAREST), ("bilinear", InterpolationMode.BILINEAR)]:
        key = f"affine.{name}.{mode}"
        tensors[key] = F.affine(image, angle=angle, translate=translate, scale=scale, shear=shear,
                                interpolation=interpolation)
        cases.append([key, angle, translate, scale, shear, mode])

blurs = []
for kernel, sigma in [([3, 3], [0.5, 0.5]), ([5, 3], [1.3, 0.7]), ([1, 7], [0.8, 2.0]), ([9, 9], [3.0, 3.0])]:
    key = f"blur.{kernel[0]}x{kernel[1]}.{sigma[0]}-{sigma[1]}"
    tensors[key] = F.gaussian_blur(image, kernel, sigma)
    blurs.append([key, kernel, sigma])

# Elastic: a fixed displacement field [1, H, W, 2] (normalised units) through F.elastic_transform.
displacement = torch.rand((1, 9, 12, 2), generator=g) * 0.4 - 0.2
tensors["elastic.displacement"] = displacement[0]
for mode, interpolation in [("nearest", InterpolationMode.NEAREST), ("bilinear", InterpolationMode.BILINEAR)]:
    tensors[f"elastic.{mode}"] = F.elastic_transform(image, displacement, interpolation=interpolation)

# Perspective: F.perspective with given corner moves (start: the image corners; end: where they land).
perspectives = []
start = [[0, 0], [11, 0], [11, 8], [0, 8]]
for k, end in enumerate([[[2, 1], [10, 0], [9, 7], [1, 8]], [[0, 2], [11, 1], [10, 8], [3, 6]]]):
    for mode, interpolation in [("nearest", InterpolationMode.NEAREST), ("bilinear", InterpolationMode.BILINEAR)]:
        key = f"perspective.{k}.{mode}"
        tensors[key] = F.perspective(image, start, end, interpolation=interpolation)
        perspectives.append([key, start, end, mode])

here = os.path.dirname(os.path.abspath(__file__))
target = os.path.join(here, "..", "Tests", "VisionDataTests", "Fixtures", "transforms.safetensors")
write_safetensors(target, tensors, {"affine": json.dumps(cases), "blur": json.dumps(blurs),
                                    "perspective": json.dumps(perspectives),
                                    "generator": f"torchvision {torchvision.__version__}"})
print(target, len(cases), "affine cases,", len(blurs), "blur cases")
