"""Generate the U-Net training-step fixture for ModelParityTests.testUNetTrainingStepMatchesPyTorch.

What it generates: Tests/VisionModelsTests/Fixtures/unet_small_training.safetensors (float32 tensors), the
PyTorch reference for ONE training-mode forward/backward of the `unet_small` case of
../shared/reference/models.json (the U-Net of ../shared/bench/torch_unet.py, base 8, depth 3, 1 -> 2 classes):

  - weights `unet_small/<state_dict key>` and input `unet_small.x` (2x1x64x64) are read from
    ../shared/reference/models.safetensors and loaded into the torch model (num_batches_tracked is absent
    there, as in the eval case);
  - the model is put in train mode (batch-norm batch statistics), a seeded per-pixel target is drawn
    (torch.Generator seeded 0, integers in {0, 1}, shape 2x64x64), the loss is F.cross_entropy(logits, target)
    (mean over all pixels), and backward runs once; no optimizer step.

Stored keys:
  target                       the 2x64x64 class indices, as float32
  loss                         shape [1]
  grad.<state_dict key>        for each key in GRAD_KEYS (first conv, an encoder BN weight, the first decoder
                               step's transposed conv, the conv right after the last concatenation, the head)
  running_mean.<ENCODER_BN>    that BN's running_mean after the training forward (momentum 0.1)

Deterministic (fixed seed, single thread, no randomness besides the seeded target). Run from anywhere:
    /tmp/t/bin/python scripts/make_unet_training_fixture.py
The reference directory defaults to ../shared/reference next to the package root (VISION_REFERENCE overrides it).
"""
import importlib.util
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.environ.get("VISION_REFERENCE", os.path.join(os.path.dirname(ROOT), "shared", "reference"))
UNET_SOURCE = os.path.join(os.path.dirname(ROOT), "shared", "bench", "torch_unet.py")
OUTPUT = os.path.join(ROOT, "Tests", "VisionModelsTests", "Fixtures", "unet_small_training.safetensors")
CASE = "unet_small"

ENCODER_BN = "down.1.1"  # first batch norm of the second encoder level
GRAD_KEYS = [
    "down.0.0.weight",       # first conv
    ENCODER_BN + ".weight",  # encoder batch-norm weight
    "up.0.weight",           # transposed conv (up-sampling) of the first decoder step
    "dec.2.0.weight",        # decoder conv right after the last concatenation (skip + upsampled)
    "head.weight",           # final 1x1 conv
    "head.bias",
]

def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with open(os.path.join(REFERENCE, "models.json")) as f:
        case = next(c for c in json.load(f)["cases"] if c["name"] == CASE)
    arch, prefix = case["arch"], case["weights_prefix"]
    tensors, _ = read_safetensors(os.path.join(REFERENCE, "models.safetensors"),
                                  lambda k: k.startswith(prefix) or k == case["input"])

    spec = importlib.util.spec_from_file_location("torch_unet", UNET_SOURCE)
    torch_unet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(torch_unet)
    model = torch_unet.UNet(in_channels=arch["in_channels"], num_classes=arch["num_classes"],
                            base=arch["base"], depth=arch["depth"])
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)

    x = tensors[case["input"]]
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 2, (x.shape[0], x.shape[2], x.shape[3]), generator=generator)

    model.train()
    model.zero_grad()
    loss = F.cross_entropy(model(x), target)
    loss.backward()

    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    out = {"target": target.float(), "loss": loss.detach().reshape(1)}
    for key in GRAD_KEYS:
        out["grad." + key] = params[key].grad
    out["running_mean." + ENCODER_BN] = buffers[ENCODER_BN + ".running_mean"]
    write_safetensors(OUTPUT, out, {
        "generator": f"scripts/make_unet_training_fixture.py, PyTorch {torch.__version__}",
        "case": CASE,
        "note": "one train-mode forward + mean per-pixel cross_entropy + backward; no optimizer step",
    })
    print(f"loss {loss.item():.8f}")
    print(f"wrote {OUTPUT} ({os.path.getsize(OUTPUT)} bytes)")


if __name__ == "__main__":
    main()
