"""Iteration time and peak memory of every training recipe, relative to `supervised`.

Each method runs in its own subprocess (so peak memory is its own: ``ru_maxrss`` on the
CPU: ``VmHWM`` of /proc/self/status, the resident high-water mark, falling back to
``ru_maxrss``; ``torch.cuda.max_memory_allocated`` on CUDA) on the same batch size and image size,
main stage only (MONA/ARCO: the fine-tuning step, ACTION: the AnCo step), after warm-up
iterations. Rounds alternate between methods so machine noise hits them alike; the median
per-iteration time of each is reported with its ratio to supervised: wall-clock time, and
on the CPU also the process CPU time (``time.process_time``), which other processes on a
shared machine disturb far less; with ``--threads 1`` (the default on the CPU) it is the
cleanest measure of the work a step does.

Target (issue): a MONA fine-tuning iteration costs at most 3x a supervised one.

A method written ``NAME@RECIPE`` runs with that named recipe: ``@paper`` the papers' recipe
(``PAPER_RECIPE``; for cost that is the full-width representation head,
``representation_hidden_ratio=1``), so the working head and the printed one are measured
side by side; ``@muted`` the muted recipe (the heads' gradient into the UNet at 0.01, which
changes no operation: a check that the gradient scale costs nothing).

    python benchmarks/bench_methods.py [--image-size 128] [--batch-size 6] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

METHODS = ("supervised", "mean-teacher", "glcon", "mona", "arco-ns", "arco-sg", "arco-sag", "action", "action++")


def worker(method: str, image_size: int, batch_size: int, iterations: int, warmup: int, device: str, width: float, embed: int, threads: int) -> dict:
    import resource
    import tempfile
    import time

    import torch

    from mona_lab.config import TrainConfig
    from mona_lab.data import TwoStreamBatches, load_dataset, split_patients
    from mona_lab.methods import StepContext, build_method, stage_at
    from mona_lab.runtime import seed_everything, select_device

    from mona_lab.config import recipe_options

    dev = select_device(device)
    if threads > 0:
        torch.set_num_threads(threads)
    seed_everything(0)
    method, _, recipe = method.partition("@")
    config = TrainConfig(
        **recipe_options(recipe or "working"),
        method=method, out=tempfile.mkdtemp(), iterations=iterations + warmup, pretrain_iterations=0,
        image_size=image_size, batch_size=batch_size, width=width, embed_dim=embed, progress=False,
    )  # fmt: skip
    data = load_dataset("phantom", image_size=image_size, fast=True)
    labeled, unlabeled = split_patients(data.patients, 2, seed=0)
    method_module = build_method(config, data.num_classes).to(dev)
    batches = TwoStreamBatches(data, labeled, unlabeled, batch_size=batch_size, labeled_fraction=method_module.labeled_fraction, seed=0)
    optimizer = torch.optim.SGD(method_module.trainable_parameters(), lr=0.01, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    stages = method_module.stages()
    times, cpu_times = [], []
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    for step in range(iterations + warmup):
        stage, stage_step = stage_at(stages, step)
        method_module.context = StepContext(step, stage, stage_step, 0.5, generator)
        batch = batches.batch_at(step).to(dev)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start, cpu_start = time.perf_counter(), time.process_time()
        losses = method_module(batch.labeled_images, batch.labeled_labels, batch.unlabeled_images)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        method_module.after_step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if step >= warmup:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        try:
            status = open("/proc/self/status").read()
            peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
        except (OSError, IndexError, ValueError):
            pass
    return {"method": method + (f"@{recipe}" if recipe else ""), "stage": stages[-1].name, "seconds": times, "cpu_seconds": cpu_times, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=4, help="timed iterations per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--embed-dim", type=int, default=512)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker (0: torch's default)")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args.image_size, args.batch_size, args.iterations, args.warmup, args.device, args.width, args.embed_dim, args.threads)
        print(json.dumps(result))
        return
    samples: dict[str, list[float]] = {m: [] for m in args.methods}
    cpu_samples: dict[str, list[float]] = {m: [] for m in args.methods}
    peaks: dict[str, float] = {}
    stages: dict[str, str] = {}
    for _ in range(args.rounds):
        for method in args.methods:
            cmd = [sys.executable, __file__, "--worker", method] + [
                f"--{k}={v}" for k, v in (("image-size", args.image_size), ("batch-size", args.batch_size),
                ("iterations", args.iterations), ("warmup", args.warmup), ("device", args.device),
                ("width", args.width), ("embed-dim", args.embed_dim), ("threads", args.threads))
            ]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            result = json.loads(out)
            samples[method] += result["seconds"]
            cpu_samples[method] += result["cpu_seconds"]
            peaks[method] = max(peaks.get(method, 0.0), result["peak_mb"])
            stages[method] = result["stage"]
    print(
        f"image {args.image_size}x{args.image_size}, batch {args.batch_size}, width {args.width}, embed {args.embed_dim}, "
        f"device {args.device}, threads {args.threads or 'default'}, {args.rounds} rounds x {args.iterations} iterations"
    )
    base = statistics.median(samples["supervised"]) if "supervised" in samples else None
    cpu_base = statistics.median(cpu_samples["supervised"]) if "supervised" in samples else None
    base_peak = peaks.get("supervised")
    print(
        f"{'method':<14}{'stage':<14}{'wall s/iter':>12}{'x sup':>7}{'CPU s/iter':>12}{'x sup':>7}"
        f"{'peak MB':>10}{'x sup':>7}"
    )
    for method in args.methods:
        median = statistics.median(samples[method])
        cpu_median = statistics.median(cpu_samples[method])
        ratio = f"{median / base:.2f}" if base else "-"
        cpu_ratio = f"{cpu_median / cpu_base:.2f}" if cpu_base else "-"
        peak_ratio = f"{peaks[method] / base_peak:.2f}" if base_peak else "-"
        print(
            f"{method:<14}{stages[method]:<14}{median:>12.3f}{ratio:>7}{cpu_median:>12.3f}{cpu_ratio:>7}"
            f"{peaks[method]:>10.0f}{peak_ratio:>7}"
        )


if __name__ == "__main__":
    main()
