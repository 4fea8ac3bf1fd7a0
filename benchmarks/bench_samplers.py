"""Time per call of the ARCO pixel samplers (ns, sg, sag, block), side by side.

Target (project issue): SG and SAG cost at most 1.5x NS on a 6x256x256 mask. The mask
is a few random discs per item (a class map after thresholding); the sample sizes are
256 (ARCO's anchors per class) and 512 * 256 (the contrastive loss's negatives volume).
Repetitions of the four methods are interleaved and the median is reported, so the
ratios are measured under the same machine load. On the CPU the clock is the process's
CPU time (``time.process_time``, one torch thread by default), which other processes
on a shared machine do not inflate; on CUDA it is wall time after a synchronise.

    python benchmarks/bench_samplers.py [--reps 60] [--device cpu|cuda] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from mona_lab.samplers import SAMPLING_METHODS, sample_pixels


def blob_mask(batch: int, size: int, blobs: int, generator: torch.Generator) -> torch.Tensor:
    """``[batch, size, size]`` bool: the union of ``blobs`` random discs per item."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    mask = torch.zeros(batch, size, size, dtype=torch.bool)
    for item in range(batch):
        for _ in range(blobs):
            cy, cx = torch.randint(size // 8, size - size // 8, (2,), generator=generator)
            radius = int(torch.randint(size // 16, size // 6, (1,), generator=generator))
            mask[item] |= (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
    return mask


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_methods(mask: torch.Tensor, n: int, reps: int, grid: int) -> dict[str, float]:
    """Median seconds per call of each method, repetitions interleaved."""
    clock = time.perf_counter if mask.device.type == "cuda" else time.process_time
    generator = torch.Generator(device=mask.device).manual_seed(0)
    times: dict[str, list[float]] = {m: [] for m in SAMPLING_METHODS}
    for _ in range(3):  # warm-up (caches, allocator, CUDA kernels)
        for method in SAMPLING_METHODS:
            sample_pixels(mask, n, method, generator, grid)
    _sync(mask.device)
    for rep in range(reps):
        order = SAMPLING_METHODS if rep % 2 == 0 else SAMPLING_METHODS[::-1]
        for method in order:
            start = clock()
            sample_pixels(mask, n, method, generator, grid)
            _sync(mask.device)
            times[method].append(clock() - start)
    return {m: statistics.median(t) for m, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: keep)")
    parser.add_argument("--grid", type=int, default=4)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    mask = blob_mask(6, 256, 4, torch.Generator().manual_seed(0)).to(device)
    clock = "wall time" if device.type == "cuda" else "process CPU time"
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"clock: {clock}, "
          f"mask {tuple(mask.shape)} with {int(mask.sum())} pixels "
          f"({float(mask.float().mean()):.1%}), grid {args.grid}, reps {args.reps}")
    print(f"{'n':>7} " + " ".join(f"{m + ' (ms)':>11}" for m in SAMPLING_METHODS)
          + f" {'SG/NS':>6} {'SAG/NS':>6} {'block/NS':>8}")
    for n in (256, 512 * 256):
        med = time_methods(mask, n, args.reps, args.grid)
        ns = med["ns"]
        print(f"{n:>7} " + " ".join(f"{med[m] * 1e3:>11.3f}" for m in SAMPLING_METHODS)
              + f" {med['sg'] / ns:>6.2f} {med['sag'] / ns:>6.2f} {med['block'] / ns:>8.2f}")


if __name__ == "__main__":
    main()
