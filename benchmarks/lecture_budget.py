"""How long one notebook training call takes at each lab size (issue 13, "a lab that teaches on a laptop").

Times the training call of notebooks 00 and 02-04 -- `mona_lab.lab.ablation.run_ablation_row`
with all three principles on, on the phantom the notebook loads at that size -- once per
size asked for, and prints wall seconds, this process's CPU seconds, seconds per iteration
and the mean validation Dice, so the lecture budget can be chosen so that a cell that trains
two such runs takes about a minute on 2 CPU cores:

    OMP_NUM_THREADS=2 python benchmarks/lecture_budget.py                  # fast and lecture
    OMP_NUM_THREADS=2 python benchmarks/lecture_budget.py --sizes lecture --method supervised

``--threads`` sets torch's thread count (default: 2, a laptop's share).
"""
from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["fast", "lecture"], choices=["fast", "lecture", "full"])
    parser.add_argument("--method", default="mona", choices=["mona", "supervised"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from mona_lab.data import load_dataset
    from mona_lab.lab.ablation import notebook_budget
    from mona_lab.lab_size import LabSize

    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}, method {args.method}, seed {args.seed}")
    for name in args.sizes:
        size = LabSize(name)
        from mona_lab.lab.ablation import run_ablation_row

        start = time.perf_counter()
        data = load_dataset("phantom", fast=size is not LabSize.FULL)
        load_seconds = time.perf_counter() - start
        budget = notebook_budget(size=size)
        row = run_ablation_row(True, True, True, labeled=2, data=data, budget=budget, method=args.method,
                               seed=args.seed, device="cpu", keep_result=False)  # fmt: skip
        total = row["pretrain_iterations"] + row["iterations"]
        print(f"{size.value:<8} data {len(data.patients)} patients at {data.image_size} px (loaded in {load_seconds:.1f} s) | "
              f"{row['pretrain_iterations']} GLCon + {row['iterations']} fine-tuning, width {budget.width} | "
              f"{row['seconds']:.1f} s wall, {row['cpu_seconds']:.1f} s CPU, {row['seconds'] / total * 1000:.0f} ms/iteration | "
              f"mean Dice {row['mean_dice']:.3f}, per class "
              + ", ".join(f"{c} {v:.2f}" for c, v in row["dice"].items()), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
