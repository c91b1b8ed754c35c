"""PyTorch side of bench/cpu_vs_torch.bench.ts: the same GoogLeNet as @gnet/model (CIFAR stem,
Table 1 inception rows with a real 5x5 branch, BatchNorm after every conv, auxiliary heads after
4a and 4d weighted 0.3, label smoothing 0.1, SGD momentum 0.9 Nesterov, weight decay 5e-4), NHWC
in memory (channels_last), timed the same way: one warm-up step, then steps until the budget.

Run with Debian's python3 (python3-torch): /usr/bin/python3 bench/torch/googlenet_step.py
  --width 1 --batch 32 --threads 1 --budget-s 20
Prints one JSON line: {"trainIps": ..., "inferIps": ..., "torch": "<version>", "threads": n}.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

TABLE = [
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    "pool",
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    "pool",
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
]


def scale(c, width):
    return max(1, round(c * width))


def conv_unit(cin, cout, k):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Inception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        self.b1 = conv_unit(cin, c1, 1)
        self.b2 = nn.Sequential(conv_unit(cin, c3r, 1), conv_unit(c3r, c3, 3))
        self.b3 = nn.Sequential(conv_unit(cin, c5r, 1), conv_unit(c5r, c5, 5))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_unit(cin, pp, 1))
        self.out = c1 + c3 + c5 + pp

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class Aux(nn.Module):
    def __init__(self, cin, width):
        super().__init__()
        cc, fc = scale(128, width), scale(1024, width)
        self.conv = conv_unit(cin, cc, 1)
        self.fc = nn.Linear(4 * 4 * cc, fc)
        self.cls = nn.Linear(fc, 10)

    def forward(self, x):
        x = self.conv(F.avg_pool2d(x, 5, 3))
        x = F.dropout(F.relu(self.fc(torch.flatten(x, 1))), 0.7, self.training)
        return self.cls(x)


class GoogLeNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        c = scale(192, width)
        self.stem = conv_unit(3, c, 3)
        self.layers = nn.ModuleList()
        self.aux = nn.ModuleDict()
        for row in TABLE:
            if row == "pool":
                self.layers.append(nn.MaxPool2d(3, 2, 1))
                continue
            name, *cols = row
            block = Inception(c, *[scale(v, width) for v in cols])
            self.layers.append(block)
            c = block.out
            if name in ("4a", "4d"):
                self.aux[str(len(self.layers) - 1)] = Aux(c, width)
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = self.stem(x)
        aux = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.training and str(i) in self.aux:
                aux.append(self.aux[str(i)](x))
        x = F.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), 0.4, self.training)
        return self.fc(x), aux


def time_until(fn, images, budget_s):
    w0 = time.perf_counter()
    fn()  # warm-up
    if time.perf_counter() - w0 > 120:  # as cpu_vs_torch.bench.ts: only a very slow warm-up is the figure
        return images / (time.perf_counter() - w0), True
    steps, t0 = 0, time.perf_counter()
    while True:
        fn()
        steps += 1
        if time.perf_counter() - t0 >= budget_s or steps >= 20:
            break
    return images * steps / (time.perf_counter() - t0), False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget-s", type=float, default=20.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = GoogLeNet(a.width).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.arange(a.batch) % 10

    def train():
        model.train()
        opt.zero_grad(set_to_none=True)
        logits, aux = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        for al in aux:
            loss = loss + 0.3 * F.cross_entropy(al, y, label_smoothing=0.1)
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad():
            model(x)[0].argmax(1)

    train_ips, train_approx = time_until(train, a.batch, a.budget_s)
    infer_ips, infer_approx = time_until(infer, a.batch, a.budget_s)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "trainIps": train_ips,
                      "trainApprox": train_approx, "inferIps": infer_ips, "inferApprox": infer_approx}))


if __name__ == "__main__":
    main()
