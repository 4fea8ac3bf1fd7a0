"""Data-layer speed: phantom build time and training-batch throughput.

Prints, side by side in one run:
  * the time to build the default phantom (40 patients x 2 frames x 8-12 slices at 128x128;
    target < 10 s on 2 cores) and to load it as a `SegmentationData`;
  * slices per second delivered by `TwoStreamBatches` (batch 6 = 3 labelled + 3 unlabelled,
    3 labelled patients) at 128 and 256, for the phantom and, when ``MONA_LAB_ACDC`` is set,
    real ACDC, with 0 and 2 loader workers (target >= 300 slices/s at 128 on 2 cores).

Without a ``transform`` a batch is a few row copies, so in-process iteration (0 workers)
is far faster than worker processes, which pay for shared-memory transfer; workers pay off
only when an expensive per-batch ``transform`` (augmentation) runs inside them.

Usage: ``python benchmarks/bench_data.py [--batches N] [--sizes 128 256] [--threads T]``
"""
from __future__ import annotations

import argparse
import itertools
import os
import time

import torch

from mona_lab.data import PhantomConfig, TwoStreamBatches, load_dataset, make_phantom, split_patients

TARGET_BUILD_S = 10.0
TARGET_SLICES_PER_S = 300.0


def throughput(data, workers: int, batches: int) -> float:
    labeled, _ = split_patients(data.patients, 3, seed=0)
    stream = TwoStreamBatches(data, labeled, batch_size=6, seed=0)
    it = stream.loader(num_workers=workers) if workers else iter(stream)
    next(it)  # start-up (worker processes) is not throughput
    start = time.perf_counter()
    n = 0
    for batch in itertools.islice(it, batches):
        n += batch.labeled_images.shape[0] + batch.unlabeled_images.shape[0]
    elapsed = time.perf_counter() - start
    if workers:
        it.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000, help="batches timed per setting")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2 = the target machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()}")

    start = time.perf_counter()
    volumes = make_phantom(PhantomConfig())
    build = time.perf_counter() - start
    slices = sum(v.num_slices for v in volumes)
    print(
        f"phantom build (40 patients, {len(volumes)} volumes, {slices} slices, 128x128): {build:.2f} s "
        f"(target < {TARGET_BUILD_S:.0f} s: {TARGET_BUILD_S / build:.1f}x headroom)"
    )

    datasets = [("phantom", None)]
    if os.environ.get("MONA_LAB_ACDC", "").strip():
        datasets.append(("acdc", None))
    else:
        print("MONA_LAB_ACDC not set: ACDC rows skipped")
    print(f"\n{'data set':<9}{'size':>6}{'load s':>9}{'slices':>8}{'0 workers':>14}{'2 workers':>14}{'2w / 0w':>9}  (slices/s)")
    for name, root in datasets:
        for size in args.sizes:
            start = time.perf_counter()
            data = load_dataset(name, root=root, image_size=size, fast=False)
            load = time.perf_counter() - start
            rates = [throughput(data, w, args.batches) for w in (0, 2)]
            flag = "" if size != 128 else (
                f"   vs target {TARGET_SLICES_PER_S:.0f}/s: {rates[0] / TARGET_SLICES_PER_S:.1f}x (0w), "
                f"{rates[1] / TARGET_SLICES_PER_S:.1f}x (2w)"
            )
            print(
                f"{name:<9}{size:>6}{load:>9.2f}{data.num_train_slices:>8}{rates[0]:>14,.0f}{rates[1]:>14,.0f}"
                f"{rates[1] / rates[0]:>9.2f}{flag}"
            )
            del data


if __name__ == "__main__":
    main()
