"""Speed and memory of `AnatomicalContrastLoss` against a straightforward per-class reference.

The reference (`naive_anatomical_contrast`, written here and nowhere else) is the direct
transcription of MONA Eq. 3-5: normalise every pixel embedding, then for each class draw
its queries, draw num_negatives negatives per query (class from the softmax of the class
relation graph, pixel through the same sampler) and gather them into a
[queries, negatives, D] tensor before the dot products. `AnatomicalContrastLoss` draws the
same kinds of samples but gathers only indices: one [queries, pool] matrix product against
a shared pool of sampled keys, then a gather of [queries, negatives] similarities.

What is measured, for one forward + backward at each size:

- time: median wall time over ``--repeats`` runs, the two implementations interleaved in
  one process (so both see the same machine load);
- peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` above the inputs; on the CPU
  (Linux), the peak resident set size of the process (``VmHWM`` in /proc/self/status, reset
  to the current size through /proc/self/clear_refs just before the call) minus the
  resident size before the call, each implementation in a fresh subprocess so that memory
  one of them freed but the allocator kept cannot hide the other's peak. (``ru_maxrss`` is
  not used: a child inherits its parent's maximum across fork.)

Sizes: ``bench`` = 6 x 128 x 128, D = 128 (the speed target: >= 3x faster, less memory);
``paper`` = 12 x 256 x 256, D = 512 (MONA's full setting: batch 6 + 6, 256 x 256 slices,
512-dim embeddings). Both use 4 classes, 256 queries x 512 negatives, tau = 0.5, NS.

Run:  python benchmarks/bench_contrast.py [--sizes bench,paper] [--repeats 5] [--device auto]
      [--threads N]   (memory workers use torch's default thread count)
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from mona_lab.losses.anatomical_contrast import AnatomicalContrastLoss
from mona_lab.samplers import sample_pixels

SIZES = {"bench": (6, 128, 128, 128), "paper": (12, 512, 256, 256)}  # (B, D, H, W)
NUM_CLASSES = 4
NUM_QUERIES = 256
NUM_NEGATIVES = 512
THRESHOLD = 0.97
TEMPERATURE = 0.5


def naive_anatomical_contrast(features, labels, probs, generator, sampler="ns"):
    """Per-class loop that materialises a [Q, K, D] tensor of negatives (the reference)."""
    batch, dim = features.shape[:2]
    embeddings = F.normalize(features, dim=1).permute(0, 2, 3, 1).reshape(-1, dim)  # [N, D]
    flat = labels.reshape(-1)
    present = [c for c in range(probs.shape[1]) if bool((flat == c).any())]
    means = torch.stack([embeddings[flat == c].mean(dim=0) for c in present])  # [C', D]
    graph = means.detach() @ means.detach().T
    losses = []
    for i, c in enumerate(present):
        others = [j for j in range(len(present)) if j != i]
        hard = (labels == c) & (probs[:, c] <= THRESHOLD)
        query_index, query_weight = sample_pixels(hard, NUM_QUERIES, method=sampler, generator=generator)
        if query_index.numel() == 0 or not others:
            continue
        distribution = torch.softmax(graph[i, others], dim=0)
        draws = NUM_QUERIES * NUM_NEGATIVES
        negative_class = torch.multinomial(distribution, draws, replacement=True, generator=generator)
        negative_index = torch.empty(draws, dtype=torch.int64, device=features.device)
        for j, other in enumerate(others):
            chosen = negative_class == j
            index, _ = sample_pixels(
                labels == present[other], int(chosen.sum()), method=sampler, generator=generator
            )
            negative_index[chosen] = index
        queries = embeddings[query_index]  # [Q, D]
        negatives = embeddings[negative_index].view(NUM_QUERIES, NUM_NEGATIVES, dim)  # [Q, K, D]
        positive = (queries * means[i]).sum(dim=1, keepdim=True)
        logits = torch.cat([positive, torch.einsum("qd,qkd->qk", queries, negatives)], dim=1) / TEMPERATURE
        per_query = torch.logsumexp(logits, dim=1) - logits[:, 0]
        losses.append((query_weight * per_query).sum())
    return torch.stack(losses).mean()


def make_loss() -> AnatomicalContrastLoss:
    return AnatomicalContrastLoss(
        num_queries=NUM_QUERIES, num_negatives=NUM_NEGATIVES, threshold=THRESHOLD, temperature=TEMPERATURE
    )


def make_inputs(size: str, device: torch.device, seed: int = 0):
    """Random embeddings, labels with a long-tailed class mix, and soft probabilities."""
    batch, dim, height, width = SIZES[size]
    generator = torch.Generator(device=device).manual_seed(seed)
    features = torch.randn(batch, dim, height, width, generator=generator, device=device).requires_grad_(True)
    class_share = torch.tensor([0.7, 0.1, 0.1, 0.1], device=device)  # background-heavy, like ACDC
    labels = torch.multinomial(class_share, batch * height * width, replacement=True, generator=generator)
    labels = labels.view(batch, height, width)
    logits = torch.randn(batch, NUM_CLASSES, height, width, generator=generator, device=device) * 3.0
    probs = torch.softmax(logits, dim=1)
    return features, labels, probs


def run_once(kind: str, features, labels, probs, loss_fn, seed: int) -> float:
    generator = torch.Generator(device=features.device).manual_seed(seed)
    features.grad = None
    if kind == "naive":
        loss = naive_anatomical_contrast(features, labels, probs, generator)
    else:
        loss = loss_fn(features, labels, probs, generator=generator)
    loss.backward()
    return float(loss.detach())


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"{field} not found in /proc/self/status")


def _reset_peak_resident() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def memory_worker(kind: str, size: str) -> None:
    """Subprocess entry: one forward + backward on the CPU, print JSON with the peak above baseline."""
    device = torch.device("cpu")
    features, labels, probs = make_inputs(size, device)
    loss_fn = make_loss()
    _reset_peak_resident()
    baseline = _status_bytes("VmRSS")
    run_once(kind, features, labels, probs, loss_fn, seed=1)
    extra = max(_status_bytes("VmHWM") - baseline, 0)
    print(json.dumps({"kind": kind, "size": size, "peak_bytes": extra}))


def cpu_peak_memory(kind: str, size: str) -> int:
    """Peak resident memory above the inputs for one forward + backward, in a fresh process."""
    result = subprocess.run(
        [sys.executable, __file__, "--memory-worker", kind, "--sizes", size],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_bytes"]


def cuda_peak_memory(kind, features, labels, probs, loss_fn) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    baseline = torch.cuda.memory_allocated()
    run_once(kind, features, labels, probs, loss_fn, seed=1)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - baseline


def benchmark(size: str, device: torch.device, repeats: int) -> dict:
    features, labels, probs = make_inputs(size, device)
    loss_fn = make_loss()
    times = {"naive": [], "fast": []}
    values = {"naive": [], "fast": []}
    if size == "bench":  # warm-up (the paper size is slow enough not to need one)
        for kind in ("naive", "fast"):
            run_once(kind, features, labels, probs, loss_fn, seed=0)
    for repeat in range(repeats):
        for kind in ("naive", "fast"):
            _synchronise(device)
            start = time.perf_counter()
            values[kind].append(run_once(kind, features, labels, probs, loss_fn, seed=100 + repeat))
            _synchronise(device)
            times[kind].append(time.perf_counter() - start)
    if device.type == "cuda":
        memory = {
            kind: cuda_peak_memory(kind, features, labels, probs, loss_fn) for kind in ("naive", "fast")
        }
        memory_how = "torch.cuda.max_memory_allocated above the inputs"
    else:
        del features, labels, probs
        memory = {kind: cpu_peak_memory(kind, size) for kind in ("naive", "fast")}
        memory_how = "peak RSS (VmHWM) above the inputs, fresh process per implementation"
    return {
        "time": {kind: statistics.median(t) for kind, t in times.items()},
        "loss": {kind: statistics.mean(v) for kind, v in values.items()},
        "memory": memory,
        "memory_how": memory_how,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="bench,paper", help="comma list of: " + ", ".join(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if args.memory_worker:
        memory_worker(args.memory_worker, sizes[0])
        return
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"classes={NUM_CLASSES} queries/class={NUM_QUERIES} negatives/query={NUM_NEGATIVES}")
    header = (
        f"{'size':<28}{'naive ms':>10}{'fast ms':>10}{'speed-up':>10}"
        f"{'naive MiB':>11}{'fast MiB':>10}{'mem ratio':>11}{'loss naive/fast':>18}"
    )
    print(header)
    for size in sizes:
        batch, dim, height, width = SIZES[size]
        repeats = args.repeats if size == "bench" else max(1, min(args.repeats, 2))
        result = benchmark(size, device, repeats)
        t, m, v = result["time"], result["memory"], result["loss"]
        label = f"{size} {batch}x{height}x{width} D={dim}"
        print(
            f"{label:<28}{t['naive'] * 1e3:>10.1f}{t['fast'] * 1e3:>10.1f}{t['naive'] / t['fast']:>9.2f}x"
            f"{m['naive'] / 2**20:>11.0f}{m['fast'] / 2**20:>10.0f}{m['naive'] / max(m['fast'], 1):>10.2f}x"
            f"{v['naive']:>9.3f}/{v['fast']:.3f}"
        )
    print(f"time: median of interleaved runs; memory: {result['memory_how']}")


if __name__ == "__main__":
    main()
