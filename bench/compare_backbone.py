"""One SSMTL narrow-backbone training step and inference step: this engine vs PyTorch CPU.

Runs PyTorch (same thread count) in this process and the engine's Google Benchmark
(BM_Backbone*) as a subprocess, then prints samples/s of each and the ratio engine / PyTorch.
Usage: /usr/bin/python3 bench/compare_backbone.py [build_dir]
"""
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn

BATCH = 64
THREADS = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
torch.set_num_threads(THREADS)


def narrow_backbone():
    layers, cin = [], 3
    for cout in (16, 32, 32):
        layers += [nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(),
                   nn.MaxPool3d((1, 2, 2))]
        cin = cout
    return nn.Sequential(*layers)


def time_it(fn, min_time=3.0):
    fn()  # warm-up
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= min_time and n >= 3:
            return n * BATCH / el


def torch_rates():
    torch.manual_seed(0)
    net = narrow_backbone()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(BATCH, 3, 7, 64, 64)

    def train():
        opt.zero_grad()
        loss = net(x).amax(dim=2).mean()
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            net.eval()
            net(x).amax(dim=2)
            net.train()

    return time_it(train), time_it(infer)


def engine_rates(build):
    exe = os.path.join(build, "ssmtl_bench")
    out = subprocess.run([exe, "--benchmark_filter=BM_Backbone", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True).stdout
    rates = {}
    for b in json.loads(out)["benchmarks"]:
        rates[b["name"].split("/")[0]] = b["samples/s"]
    return rates["BM_BackboneTrainStep"], rates["BM_BackboneInference"]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    e_train, e_infer = engine_rates(build)
    t_train, t_infer = torch_rates()
    print(f"SSMTL narrow backbone, batch {BATCH}, input 3x7x64x64, {THREADS} threads, torch {torch.__version__}")
    print(f"{'step':<12}{'engine samples/s':>18}{'PyTorch samples/s':>19}{'ratio':>8}")
    print(f"{'training':<12}{e_train:>18.1f}{t_train:>19.1f}{e_train / t_train:>8.2f}")
    print(f"{'inference':<12}{e_infer:>18.1f}{t_infer:>19.1f}{e_infer / t_infer:>8.2f}")


if __name__ == "__main__":
    main()
