"""Convert torchvision's pretrained weights into a safetensors file `vision` loads unchanged.

Usage (needs torch and torchvision; downloads the weights the first time):
    python3 scripts/convert_torchvision.py resnet18 resnet18-imagenet.safetensors
    python3 scripts/convert_torchvision.py vgg16_bn vgg16_bn.safetensors --weights IMAGENET1K_V1
    vision predict photo.jpg --weights resnet18-imagenet.safetensors

Keys stay torchvision's state_dict() keys (num_batches_tracked is dropped). The file's metadata
carries the `vision` run configuration (architecture, 1000 ImageNet classes, 224-pixel inputs,
ImageNet normalisation), so `vision predict/evaluate/features/finetune --weights FILE` can rebuild it.
`--random` converts freshly initialised weights instead (no download; for testing the path).
"""
import argparse
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

SUPPORTED = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
             "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
             "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


def vision_config(model, classes):
    vgg = model.startswith("vgg")
    return {
        "model": model,
        "modelOptions": {"numClasses": len(classes), "inChannels": 3, "stem": None if vgg else "imagenet",
                         "head": "imagenet" if vgg else None, "base": 32, "depth": 4, "zeroInitResidual": False,
                         "seed": 0, "inputSize": 224},
        "data": "imagenet (torchvision pretrained weights)",
        "task": "classification",
        "classNames": classes,
        "preprocessing": {"channels": 3, "size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "epochs": 0, "batchSize": 0, "optimizer": "none", "learningRate": 0, "momentum": 0, "weightDecay": 0,
        "schedule": "none", "warmupEpochs": 0, "labelSmoothing": 0, "augmentation": "none", "workers": 0, "seed": 0,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", choices=SUPPORTED)
    ap.add_argument("output")
    ap.add_argument("--weights", default="DEFAULT", help="torchvision weights enum name (default: DEFAULT)")
    ap.add_argument("--random", action="store_true", help="random initialisation instead of pretrained weights")
    ap.add_argument("--f16", action="store_true", help="store half precision (vision converts on load)")
    a = ap.parse_args()
    builder = getattr(torchvision.models, a.model)
    if a.random:
        net, classes = builder(weights=None), [f"class{i}" for i in range(1000)]
    else:
        weights = torchvision.models.get_model_weights(a.model)[a.weights]
        net, classes = builder(weights=weights), list(weights.meta["categories"])
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    metadata = {"vision.config": json.dumps(vision_config(a.model, classes)), "source": f"torchvision {a.model} {a.weights}"}
    write_safetensors(a.output, state, metadata, half=a.f16)
    print(f"{a.output}: {len(state)} tensors, {sum(v.numel() for v in state.values())} values")


if __name__ == "__main__":
    main()
