"""PyTorch training throughput for the models `scripts/real-run.sh` trains, same batch sizes and inputs.

Usage: python3 torch_train_speed.py [--threads 2] [--seconds 5]
Prints one line per case: name and images/s. Needs torch and torchvision (pip).
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Block(nn.Module):
    """CIFAR ResNet basic block with the parameter-free (zero-padding) shortcut of He et al. 2015."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + short)


def cifar_resnet(depth, classes=10, cin=3):
    n = (depth - 2) // 6
    layers, c = [nn.Conv2d(cin, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for stage, width in enumerate([16, 32, 64]):
        for j in range(n):
            layers.append(Block(c, width, 2 if stage and j == 0 else 1))
            c = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes)]
    return nn.Sequential(*layers)


def small_stem_resnet18(cin):
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(cin, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


def images_per_second(model, batch, shape, seconds):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    model.train()

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return batch * n / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cases = [
        ("resnet18_fashion_mnist_train_b64", small_stem_resnet18(1), 64, (1, 28, 28)),
        ("resnet20_cifar_train_b64", cifar_resnet(20), 64, (3, 32, 32)),
        # The batch of `vision-bench models` and of the CIFAR-10 pretraining run.
        ("resnet20_cifar_train_b128", cifar_resnet(20), 128, (3, 32, 32)),
    ]
    for name, model, batch, shape in cases:
        print(f"{name} {images_per_second(model, batch, shape, a.seconds):.1f} img/s", flush=True)


if __name__ == "__main__":
    main()
