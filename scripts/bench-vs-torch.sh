#!/bin/sh
# PyTorch and vision measured back to back on this machine, then one table of ratios.
#
# Each round runs ../shared/bench/torch_baseline.py, ../shared/bench/torch_unet.py,
# scripts/torch_train_speed.py, `vision-bench conv` and `vision-bench models`; rounds alternate so
# that both sides see the same machine, and the table reports each case's median over the rounds
# (this VM's speed drifts by ±20 % over minutes). Higher is better for every unit printed.
# Usage: scripts/bench-vs-torch.sh [ROUNDS (default 2)] [PYTHON_WITH_TORCH (default /tmp/t/bin/python)]
set -eu
here="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-2}"
python="${2:-/tmp/t/bin/python}"
if [ ! -x "$python" ]; then
    echo "no PyTorch at $python: python3 -m venv /tmp/t && /tmp/t/bin/pip install torch torchvision" >&2
    exit 1
fi
cd "$here"
swift build -c release --product vision-bench
out="$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-torch.XXXXXX")"
round=1
while [ "$round" -le "$rounds" ]; do
    echo "round $round of $rounds" >&2
    "$python" ../shared/bench/torch_baseline.py --threads 2 >> "$out/torch.txt"
    "$python" ../shared/bench/torch_unet.py >> "$out/torch.txt"
    "$python" scripts/torch_train_speed.py --threads 2 >> "$out/torch.txt"
    .build/release/vision-bench conv >> "$out/vision.txt"
    .build/release/vision-bench models >> "$out/vision.txt"
    round=$((round + 1))
done
python3 - "$out/torch.txt" "$out/vision.txt" <<'EOF'
import re, statistics, sys

def figures(path):
    """case name -> (list of values, unit) from lines 'name value unit ...'."""
    found = {}
    for line in open(path):
        m = re.match(r"^(\w+)\s+([0-9.]+)\s+(img/s|GFLOP/s)", line)
        if m:
            found.setdefault(m.group(1), ([], m.group(3)))[0].append(float(m.group(2)))
    return found

torch, vision = figures(sys.argv[1]), figures(sys.argv[2])
print("| case | vision | PyTorch | ratio |")
print("|---|---|---|---|")
for name, (values, unit) in vision.items():
    if name not in torch:
        continue
    ours, theirs = statistics.median(values), statistics.median(torch[name][0])
    print(f"| {name} | {ours:.1f} {unit} | {theirs:.1f} | {ours / theirs:.2f} |")
EOF
echo "raw figures: $out" >&2
