"""``mona-lab train`` and ``mona-lab evaluate``."""
from __future__ import annotations

import argparse
import json

from mona_lab.config import DATASET_CHOICES, METHOD_CHOICES, RECIPES, TrainConfig, recipe_options


def _cmd_train(args: argparse.Namespace) -> int:
    from mona_lab.data import parse_labeled
    from mona_lab.engine import train

    options = recipe_options(args.recipe)  # explicit flags below override the recipe's fields
    options.update({
        name: getattr(args, name)
        for name in (
            "method", "dataset", "root", "iterations", "pretrain_iterations", "image_size", "batch_size", "seed",
            "device", "out", "resume", "width", "embed_dim", "lr", "optimizer", "lr_schedule", "lr_step_every", "validate_every",
            "checkpoint_every", "checkpoint_minutes", "temperature_schedule", "contrast_temperature", "tau_min", "tau_max",
            "temperature_period", "num_queries", "num_negatives", "unsup_weighting",
            "unsup_rampup", "head_grad_scale", "bn_statistics", "representation_hidden_ratio", "dropout_kind", "dynamics_every", "nn_unlabeled_only", "eqv_intensity", "eqv_fraction", "lambda_nn", "lambda_contrast",
            "lambda_eqv", "lambda_unsup", "confidence_threshold", "pseudo_label_threshold", "ema_momentum",
        )  # fmt: skip
        if getattr(args, name) is not None
    })
    if args.phantom_size is not None:
        options["phantom_fast"] = args.phantom_size == "fast"
    if args.ema_warmup is not None:
        options["ema_warmup"] = args.ema_warmup == "on"
    options["labeled"] = parse_labeled(args.labeled)
    options["progress"] = not args.no_progress
    if args.student_labeled_view is not None:
        options["strong_labeled"] = args.student_labeled_view == "strong"
    for principle in ("tailness", "consistency", "diversity"):
        options[principle] = principle not in args.without
    config = TrainConfig(**options)
    pre = config.resolved_pretrain_iterations
    stages = f" ({pre} pre-training + {config.iterations})" if pre else ""
    print(
        f"training {config.method} for {config.total_iterations} iterations{stages} into {config.out}: "
        f"{'the progress bar shows the time left; ' if config.progress else ''}last.pt every "
        + (f"{config.checkpoint_minutes:g} min" if config.checkpoint_minutes else f"{config.checkpoint_every} iterations")
        + " and at Ctrl-C, which stops after the current step (then --resume)",
        flush=True,
    )
    result = train(config)
    print(f"wrote {result.out}: mean Dice {result.metrics['mean_dice']:.4f}, mean ASD {result.metrics['mean_asd']:.3f}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a checkpoint; ``--protocol`` picks the metric conventions (`mona_lab.metrics`),
    ``--csv`` writes one row per volume and class (atomically), ``--json`` prints everything."""
    from pathlib import Path

    from mona_lab.atomic_files import atomic_write_text
    from mona_lab.engine import evaluate_checkpoint
    from mona_lab.errors import MonaLabError
    from mona_lab.metrics import PROTOCOL_DESCRIPTIONS, per_volume_csv

    csv_path = Path(args.csv) if args.csv is not None else None
    if csv_path is not None:  # refuse a path that cannot be written before the (long) evaluation
        if csv_path.is_dir():
            raise MonaLabError(f"--csv {csv_path} is a folder; name a file, e.g. {csv_path / 'per_volume.csv'}")
        existing = next((a for a in csv_path.parents if a.exists()), None)
        if existing is not None and not existing.is_dir():
            raise MonaLabError(f"--csv {csv_path} cannot be written: {existing} is a file, not a folder")
    summary = evaluate_checkpoint(args.checkpoint, args.dataset, args.root, args.split, args.device, args.protocol)
    if csv_path is not None:
        try:
            atomic_write_text(csv_path, per_volume_csv(summary["per_volume"]))
        except OSError as err:
            raise MonaLabError(f"--csv {csv_path} could not be written ({err.strerror or err})") from err
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(f"{summary['split']} split of {summary['dataset']}: {summary['num_volumes']} volumes")
    print(f"protocol {summary['protocol']}: {PROTOCOL_DESCRIPTIONS[summary['protocol']]}")
    print(f"{'class':<14}{'Dice':>8}{'ASD':>9}   (ASD in {summary['asd_units']})")
    for name, values in summary["per_class"].items():
        print(f"{name:<14}{values['dice']:>8.4f}{values['asd']:>9.3f}")
    print(f"{'mean':<14}{summary['mean_dice']:>8.4f}{summary['mean_asd']:>9.3f}")
    worst = min(summary["per_volume"], key=lambda row: (row["dice"], -row["asd"]), default=None)
    if worst is not None:
        print(f"lowest Dice: {worst['volume']} {worst['class']} (Dice {worst['dice']:.4f}, ASD {worst['asd']:.3f})")
    if csv_path is not None:
        print(f"wrote {len(summary['per_volume'])} per-volume rows to {csv_path}")
    return 0


def add_train_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one method (writes config.json, log.csv, last.pt, metrics.json)")
    p.add_argument("--method", required=True, choices=METHOD_CHOICES, metavar="METHOD", help=", ".join(METHOD_CHOICES))
    p.add_argument("--dataset", default="phantom", choices=DATASET_CHOICES, metavar="NAME", help=", ".join(DATASET_CHOICES))
    p.add_argument("--root", default=None, help="data folder (ACDC: else $MONA_LAB_ACDC, then data/ACDC)")
    p.add_argument("--labeled", required=True, help="labelled patients: a count (3) or a ratio (0.05 or 5%%)")
    p.add_argument("--iterations", type=int, required=True, help="main (fine-tuning) iterations")
    p.add_argument("--pretrain-iterations", type=int, default=None, help="pre-training iterations (default: half of --iterations)")
    p.add_argument("--image-size", type=int, default=None, help="working size (default 128)")
    p.add_argument("--batch-size", type=int, default=None, help="slices per step, half labelled (default 6)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--out", required=True, help="output folder (must be new unless --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--width", type=float, default=None, help="UNet width multiplier (1.0: 16..256 channels)")
    p.add_argument("--embed-dim", type=int, default=None, help="embedding size (512 MONA, 128 ACTION++)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default=None, help="sgd (default, the papers) or adamw")
    p.add_argument("--lr-schedule", choices=("step", "poly"), default=None, help="step (default) or poly (0.9)")
    p.add_argument("--lr-step-every", type=int, default=None, help="step schedule: divide the lr by 10 every N iterations of a stage (2500)")
    p.add_argument("--temperature-schedule", default=None, help="fixed, cosine, step, random or oscillating")
    p.add_argument("--contrast-temperature", type=float, default=None, help="tau of the pixel contrast under the fixed schedule (default 0.5)")
    p.add_argument("--tau-min", type=float, default=None, help="smallest tau of a varying schedule (ACTION++ Eq. 6; default 0.1)")
    p.add_argument("--tau-max", type=float, default=None, help="largest tau of a varying schedule (default 1.0)")
    p.add_argument(
        "--temperature-period", type=float, default=None,
        help="a periodic schedule repeats every this fraction of the stage (ACTION++ Table 6's T / #iterations; default 1)",
    )  # fmt: skip
    p.add_argument("--num-queries", type=int, default=None)
    p.add_argument("--num-negatives", type=int, default=None)
    p.add_argument(
        "--student-labeled-view", choices=("strong", "weak"), default=None,
        help="augmentation of the labelled slices the student's L_sup sees (default weak, as the supervised baseline; strong = paper)",
    )  # fmt: skip
    p.add_argument(
        "--unsup-weighting", choices=("mask", "share", "dice_ce"), default=None,
        help="L_unsup: Dice+CE on confident pixels (dice_ce, default), CE on confident pixels (mask) or CE on all pixels times the confident share (share, paper)",
    )  # fmt: skip
    p.add_argument(
        "--unsup-rampup", type=float, default=None,
        help="sigmoid ramp-up of the auxiliary loss weights over this fraction of fine-tuning (default 0: none)",
    )  # fmt: skip
    p.add_argument(
        "--phantom-size", choices=("fast", "full"), default=None,
        help="--dataset phantom: the fast phantom (12 patients, 64 px) or the full one (40, 128 px); default: "
        "fast when MONA_LAB_SIZE=fast or MONA_LAB_FAST=1, else full (recorded in config.json as phantom_fast)",
    )  # fmt: skip
    p.add_argument(
        "--recipe", choices=RECIPES, default="working",
        help="working (default: mona_lab's measured departures), paper (every departure set to the printed value) "
        "or muted (working, with the auxiliary heads' gradient into the UNet at 1%%: the contrastive terms muted, a lesson)",
    )  # fmt: skip
    p.add_argument(
        "--head-grad-scale", type=float, default=None,
        help="factor on the gradient the auxiliary heads send into the UNet (paper 1; see TrainConfig)",
    )  # fmt: skip
    p.add_argument(
        "--bn-statistics", choices=("labeled", "all"), default=None,
        help="images the student's BatchNorm running statistics come from: labeled rows only (default) or every view (paper code)",
    )  # fmt: skip
    p.add_argument(
        "--representation-hidden-ratio", type=float, default=None,
        help="hidden width of the representation head's 3x3 conv as a fraction of --embed-dim (paper 1; default 0.25)",
    )  # fmt: skip
    p.add_argument("--nn-unlabeled-only", action="store_true", default=None, help="L_nn on unlabelled rows only")
    p.add_argument("--eqv-intensity", action="store_true", default=None, help="T in L_eqv also changes intensity")
    p.add_argument(
        "--eqv-fraction", type=float, default=None,
        help="share of the labelled and of the unlabelled rows L_eqv is computed on (default 0.5; paper 1)",
    )
    p.add_argument("--dropout-kind", choices=("element", "channel"), default=None, help="UNet dropout (default element)")
    p.add_argument("--lambda-contrast", type=float, default=None, help="lambda_1, weight of L_contrast / L_anco / SAACL")
    p.add_argument("--lambda-eqv", type=float, default=None, help="lambda_2, weight of L_eqv")
    p.add_argument("--lambda-unsup", type=float, default=None, help="lambda_3, weight of L_unsup")
    p.add_argument("--lambda-nn", type=float, default=None, help="lambda_4, weight of L_nn")
    p.add_argument("--confidence-threshold", type=float, default=None, help="hard-query confidence delta (0.97)")
    p.add_argument(
        "--pseudo-label-threshold", type=float, default=None,
        help="confidence a pseudo-label needs to enter L_unsup (paper 0.97; default 0.9)",
    )  # fmt: skip
    p.add_argument("--ema-momentum", type=float, default=None, help="EMA teacher momentum (0.99)")
    p.add_argument(
        "--ema-warmup", choices=("on", "off"), default=None,
        help="EMA momentum min(1 - 1/(t+1), m) as in the public code (default on; off = paper as printed)",
    )  # fmt: skip
    p.add_argument(
        "--dynamics-every", type=int, default=None,
        help="write weight and per-term gradient norms to dynamics.csv every N iterations (default 100; 0 off)",
    )  # fmt: skip
    p.add_argument("--validate-every", type=int, default=None)
    p.add_argument("--checkpoint-every", type=int, default=None, help="write last.pt every N iterations (default 500)")
    p.add_argument(
        "--checkpoint-minutes", type=float, default=None,
        help="also write last.pt after this many minutes of wall time (default 2; 0 off); Ctrl-C writes one too",
    )  # fmt: skip
    p.add_argument(
        "--without",
        nargs="*",
        default=[],
        choices=("tailness", "consistency", "diversity"),
        help="switch MONA principles off (the ablations of MONA Tables III and VI)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_cmd_train)

    e = sub.add_parser("evaluate", help="Dice and ASD of a checkpoint on a split of a data set")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--dataset", required=True, choices=DATASET_CHOICES, metavar="NAME", help=", ".join(DATASET_CHOICES))
    e.add_argument("--root", default=None)
    e.add_argument("--split", choices=("val", "test"), default="val")
    e.add_argument("--device", default="auto")
    e.add_argument(
        "--protocol", choices=("strict", "paper"), default="strict",
        help="strict (default): Dice + symmetric ASD (mm when the spacing is known), a missed class gets the volume "
             "diagonal; paper: the papers' test scripts (medpy dc and directed asd pred->gt in voxels, empty truth "
             "Dice 1/ASD 0, empty prediction Dice 0/ASD 0)",
    )  # fmt: skip
    e.add_argument("--csv", default=None, metavar="PATH", help="also write one row per volume and class to PATH (CSV)")
    e.add_argument("--json", action="store_true", help="print one JSON object (with per-volume, per-class rows)")
    e.set_defaults(handler=_cmd_evaluate)
