"""How fast the evaluation metrics are, on the current device.

    python benchmarks/metrics_speed.py                 # 1M-line reference, 6,400 samples; FID features
    python benchmarks/metrics_speed.py --lines 10000000  # the papers' 10M lines (needs ~20 GB RAM to build once)

Prints: the one-off build of the reference n-gram counts (n = 1..6), the time to load them from the cache, and
the time of one evaluation (JSD for n = 1..6) of 6,400 samples; then the FID network's feature throughput
(random weights: the same cost as the real ones) and the Fréchet distance of 2048-d statistics.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402


def random_fid_net():
    """pytorch-fid's InceptionV3 with its random initial weights (the weights' values do not change the cost):
    its weight loading is skipped, so nothing is downloaded."""
    from unittest import mock
    from pytorch_fid import inception
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None):
        net = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    return net.eval().requires_grad_(False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--fid-images", type=int, default=None, help="default: 2000 on CUDA, 100 on CPU")
    parser.add_argument("--fid-batch", type=int, default=None, help="default: 500 on CUDA, 50 on CPU")
    args = parser.parse_args()
    device = common.pick_device()
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, {torch.get_num_threads()} threads")

    # Text-like lines: a 2,048-character vocabulary with Zipf-like frequencies, as 1B Word after its charmap.
    rng = np.random.RandomState(0)
    frequencies = 1.0 / np.arange(1, 2049) ** 1.1
    frequencies /= frequencies.sum()
    reference = torch.as_tensor(rng.choice(2048, size=(args.lines, 32), p=frequencies).astype(np.int16))
    samples = torch.as_tensor(rng.choice(2048, size=(args.samples, 32), p=frequencies))
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        common.NgramReference(reference, 2048, 6, cache)
        build = time.perf_counter() - start
        start = time.perf_counter()
        model = common.NgramReference(reference, 2048, 6, cache)
        load = time.perf_counter() - start
        start = time.perf_counter()
        values = [model.jsd(samples, n) for n in range(1, 7)]
        evaluate = time.perf_counter() - start
    print(f"n-gram JSD, {args.lines:,} reference lines x 32 chars: build counts once {build:.1f} s, "
          f"load from cache {load:.2f} s, evaluate {args.samples:,} samples for n=1..6 {evaluate:.2f} s "
          f"(JSD n=4: {values[3]:.3f})")

    net = random_fid_net().to(device)
    n = args.fid_images or (2000 if device.type == "cuda" else 100)
    batch = args.fid_batch or (500 if device.type == "cuda" else 50)
    images = torch.rand(batch, 3, 64, 64, device=device) * 2 - 1
    with torch.no_grad():
        common.fid_features(net, images[:8])  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(max(1, n // batch)):
            common.fid_features(net, images)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    rate = max(1, n // batch) * batch / seconds
    print(f"FID features (64x64 -> 299, pool3): {rate:,.0f} images/s; 50k samples ~ {50_000 / rate:.0f} s")
    features = np.random.RandomState(1).randn(5000, 2048)
    mu, sigma = features.mean(0), np.cov(features, rowvar=False)
    start = time.perf_counter()
    common.frechet_distance(mu, sigma, mu + 0.1, sigma)
    print(f"Fréchet distance of 2048-d statistics: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
