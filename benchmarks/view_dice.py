"""Stored numbers for notebook 03's "why a weak view for the teacher" (MONA TPAMI 2024, Table IV).

A pseudo-label is only as good as the view it is predicted on. This script trains the stored
phantom grid's supervised baseline (UNet-L on 2 labelled patients, the grid's budget: 700
iterations at 64 px, width 0.5, lr 0.15; `mona_lab.lab.ablation.GRID_BUDGET`) for each seed,
then segments weak and strong views (`mona_lab.augment.views`: flip / rotation for weak; plus
deformation, intensity changes and CutMix for strong) of 12 training slices from *unlabelled*
patients that show every class, and scores each class against the labels moved with the view
(`mona_lab.lab.principles.consistency.view_dice`, 8 random views per slice). The JSON keeps per
seed the labelled patients, the per-class Dice of each view, the CPU seconds and the command.

    python benchmarks/view_dice.py            # notebooks/results/view_dice.json
    python benchmarks/view_dice.py --seeds 0 --out /tmp/v.json   # one seed

Measured: about 40 CPU seconds a seed with one thread, 2 minutes for the default 3 seeds.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "benchmarks/view_dice.py"
VIEWS = ("weak", "strong")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--slices", type=int, default=12, help="evaluated slices, each showing every class (default 12)")
    p.add_argument("--repeats", type=int, default=8, help="random views per slice and view kind (default 8)")
    p.add_argument("--out", type=Path, default=ROOT / "notebooks" / "results" / "view_dice.json")
    return p.parse_args(argv)


def evaluation_slices(data, labeled_patients, count: int):
    """``count`` training slices of unlabelled patients that show every class (most classes
    first, stable order): images ``[count, 1, S, S]`` and labels ``[count, S, S]``."""
    import torch

    keep = torch.tensor([pid not in set(labeled_patients) for pid in data.train_patient_ids])
    images, labels = data.train_images[keep], data.train_labels[keep]
    present = torch.stack([(labels == k).flatten(1).any(1) for k in range(data.num_classes)], 1).sum(1)
    index = torch.argsort(present, descending=True, stable=True)[:count]
    if present[index].min() < data.num_classes:
        raise SystemExit(f"fewer than {count} unlabelled slices show all {data.num_classes} classes; lower --slices")
    return images[index], labels[index]


def main(argv=None) -> dict:
    import numpy as np
    import torch

    from mona_lab.lab.ablation import GRID_BUDGET, run_ablation_row
    from mona_lab.lab.ablation.grid_study import data_settings, load_study_data
    from mona_lab.lab.principles.consistency import view_dice
    from mona_lab.lab.run_records import write_results
    from mona_lab.lab.study_runs import script_command

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(1)
    data = load_study_data(data_settings("phantom", GRID_BUDGET.image_size, 20))
    names = list(data.class_names[1:])
    runs = []
    for seed in args.seeds:
        start = time.process_time()
        row = run_ablation_row(labeled=2, data=data, budget=GRID_BUDGET, method="supervised", seed=seed)
        model = row["result"].method.student.eval()
        images, labels = evaluation_slices(data, row["labeled_patients"], args.slices)
        with torch.no_grad():
            dice = {kind: view_dice(model, images, labels, kind, repeats=args.repeats, seed=seed) for kind in VIEWS}
        runs.append({
            "seed": seed,
            "labeled_patients": row["labeled_patients"],
            "validation_mean_dice": row["mean_dice"],
            "view_dice": {kind: dict(zip(names, map(float, values))) for kind, values in dice.items()},
            "cpu_seconds": time.process_time() - start,
        })  # fmt: skip
        print(f"seed {seed}: " + "  ".join(f"{kind} {np.mean(values):.3f}" for kind, values in dice.items())
              + f"  ({runs[-1]['cpu_seconds']:.0f} CPU s)", flush=True)  # fmt: skip
    meta = {
        "command": script_command(SCRIPT, argv),
        "seeds": args.seeds,
        "classes": names,
        "budget": GRID_BUDGET.to_dict(),
        "labeled": 2,
        "slices": args.slices,
        "repeats": args.repeats,
        "torch_version": torch.__version__,
        "cpu_seconds": sum(r["cpu_seconds"] for r in runs),
    }
    write_results(args.out, runs, meta)
    mean = {kind: np.mean([[r["view_dice"][kind][c] for c in names] for r in runs], axis=0) for kind in VIEWS}
    print("class  " + " ".join(f"{c:>6}" for c in names))
    for kind in VIEWS:
        print(f"{kind:<6} " + " ".join(f"{v:6.3f}" for v in mean[kind]))
    print(f"wrote {args.out}")
    return {"meta": meta, "runs": runs}


if __name__ == "__main__":
    main()
