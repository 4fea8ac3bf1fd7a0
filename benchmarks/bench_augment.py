"""Speed of the batched views in `mona_lab.augment` against per-sample pipelines.

Compared, on one batch of B slices of S x S with labels (median wall time over
``--repeats`` runs, all variants interleaved in one process so they see the same load):

- ``scipy loop``: the usual per-sample CPU pipeline of this field, written here:
  ``scipy.ndimage.rotate`` (order 1 image / order 0 label), a random crop resized back with
  ``scipy.ndimage.zoom`` and a flip, sample by sample;
- ``torch loop``: `weak_view` called once per sample (batch of one);
- ``weak batched``: `weak_view` on the whole batch (rotation, crop, flip);
- ``strong batched``: `strong_view` with deformation and CutMix always on
  (7 scaling-and-squaring steps), the student's view in MONA.

Ratios are "time of the variant / time of weak batched".

Run:  python benchmarks/bench_augment.py [--batch 8] [--size 256] [--repeats 7] [--device auto]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy import ndimage

from mona_lab.augment import StrongAugmentConfig, WeakAugmentConfig, strong_view, weak_view
from mona_lab.runtime import select_device


def scipy_loop(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, cfg: WeakAugmentConfig):
    out_x, out_y = np.empty_like(images), np.empty_like(labels)
    size = images.shape[-1]
    for i in range(images.shape[0]):
        angle = rng.uniform(-cfg.rotation_degrees, cfg.rotation_degrees)
        x = ndimage.rotate(images[i, 0], angle, order=1, reshape=False)
        y = ndimage.rotate(labels[i], angle, order=0, reshape=False)
        side = max(1, int(size * rng.uniform(*cfg.crop_scale)))
        top, left = rng.integers(0, size - side + 1, size=2)
        x = ndimage.zoom(x[top:top + side, left:left + side], size / side, order=1)[:size, :size]
        y = ndimage.zoom(y[top:top + side, left:left + side], size / side, order=0)[:size, :size]
        if rng.random() < cfg.flip_prob:
            x, y = x[:, ::-1], y[:, ::-1]
        out_x[i, 0, : x.shape[0], : x.shape[1]] = x
        out_y[i, : y.shape[0], : y.shape[1]] = y
    return out_x, out_y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = select_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    g = torch.Generator().manual_seed(0)
    images = torch.rand(args.batch, 1, args.size, args.size, generator=g)
    labels = torch.randint(0, 4, (args.batch, args.size, args.size), generator=g)
    images_d, labels_d = images.to(device), labels.to(device)
    images_np, labels_np = images.numpy(), labels.numpy().astype(np.uint8)
    weak_cfg = WeakAugmentConfig()
    strong_cfg = StrongAugmentConfig(cutmix_prob=1.0, deformation_prob=1.0)
    rng = np.random.default_rng(0)

    def torch_loop():
        for i in range(args.batch):
            weak_view(images_d[i:i + 1], labels_d[i:i + 1], g, weak_cfg)

    variants = {
        "scipy loop": lambda: scipy_loop(images_np, labels_np, rng, weak_cfg),
        "torch loop": torch_loop,
        "weak batched": lambda: weak_view(images_d, labels_d, g, weak_cfg),
        "strong batched": lambda: strong_view(images_d, labels_d, g, strong_cfg),
    }
    for fn in variants.values():  # warm-up
        fn()
    sync()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    ref = statistics.median(times["weak batched"])
    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch} "
          f"size={args.size} repeats={args.repeats}")
    print(f"{'variant':<16}{'median ms':>12}{'ratio to weak batched':>24}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<16}{1000 * med:>12.2f}{med / ref:>24.2f}")


if __name__ == "__main__":
    main()
