"""``mona-lab train`` and ``mona-lab evaluate``."""
from __future__ import annotations

import argparse
import dataclasses
import json

from mona_lab.config import DATASET_CHOICES, RECIPES, TrainConfig, recipe_options


def config_flags() -> list[dataclasses.Field]:
    """The `TrainConfig` fields ``mona-lab train`` offers as ``--NAME`` flags (those declared with
    `mona_lab.config.train_config.option`: help, choices and default written once, on the field)."""
    return [f for f in dataclasses.fields(TrainConfig) if "help" in f.metadata]


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--NAME`` per `config_flags` field: a bool field is a switch, an ``int`` / ``float``
    field parses as one, anything else is a string; every flag defaults to ``None`` (not given:
    the recipe's or `TrainConfig`'s value), and the help ends with the field's default."""
    for f in config_flags():
        kind = str(f.type)
        help = f.metadata["help"]
        if f.default is not dataclasses.MISSING and f.default is not None and not f.metadata["required"]:
            help += f" (default {f.default})"
        options = {"default": None, "help": help.replace("%", "%%")}
        if kind.startswith("bool"):
            options["action"] = "store_true"
        else:
            options["type"] = int if kind.startswith("int") else float if kind.startswith("float") else str
            if options["type"] is not str:
                options["metavar"] = "N" if options["type"] is int else "X"
            options["required"] = f.metadata["required"]
            if f.metadata["choices"] is not None:
                options["choices"] = f.metadata["choices"]
        parser.add_argument("--" + f.name.replace("_", "-"), **options)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The `TrainConfig` of a parsed ``mona-lab train`` command line: the ``--recipe``'s fields,
    overridden by every flag given."""
    from mona_lab.data import parse_labeled

    options = recipe_options(args.recipe)  # explicit flags below override the recipe's fields
    options.update({f.name: getattr(args, f.name) for f in config_flags() if getattr(args, f.name) is not None})
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
    return TrainConfig(**options)


def _cmd_train(args: argparse.Namespace) -> int:
    from mona_lab.engine import train

    config = config_from_args(args)
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
    from mona_lab.metrics import LA_PROTOCOL, per_volume_csv

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
    if summary["protocol"] == LA_PROTOCOL:
        _print_window_scores(summary)
    else:
        _print_class_scores(summary)
    if csv_path is not None:
        print(f"wrote {len(summary['per_volume'])} per-volume rows to {csv_path}")
    return 0


def _print_window_scores(summary: dict) -> None:
    """A 3D evaluation (`evaluate_volumes_3d`): one row per volume, then mean ± sd per class."""
    from mona_lab.metrics import LA_PROTOCOL_DESCRIPTION

    window = summary["window"]
    print(
        f"{summary['split']} split of {summary['dataset']}: {summary['num_volumes']} volumes, sliding window "
        f"{','.join(map(str, window['patch']))} stride {','.join(map(str, window['stride']))} (D,H,W) on volumes "
        f"downsampled by {window.get('downsample', 1)}, scored on the native grid"
    )
    print(f"protocol {summary['protocol']}: {LA_PROTOCOL_DESCRIPTION}")
    print(f"{'volume':<24}{'class':<14}{'Dice':>8}{'Jaccard':>9}{'95HD':>9}{'ASD':>9}   (95HD, ASD in voxels)")
    for row in summary["per_volume"]:
        print(f"{row['volume']:<24}{row['class']:<14}{row['dice']:>8.4f}{row['jaccard']:>9.4f}{row['hd95']:>9.2f}{row['asd']:>9.2f}")
    for name, v in summary["per_class"].items():
        print(
            f"{'mean ± sd':<24}{name:<14}{v['dice']:>8.4f}{v['jaccard']:>9.4f}{v['hd95']:>9.2f}{v['asd']:>9.2f}\n"
            f"{'':<38}{v['dice_std']:>8.4f}{v['jaccard_std']:>9.4f}{v['hd95_std']:>9.2f}{v['asd_std']:>9.2f}"
        )


def _print_class_scores(summary: dict) -> None:
    """A 2D evaluation (`evaluate_volumes`): Dice and ASD per class, their means, the worst volume."""
    from mona_lab.metrics import PROTOCOL_DESCRIPTIONS

    print(f"{summary['split']} split of {summary['dataset']}: {summary['num_volumes']} volumes")
    print(f"protocol {summary['protocol']}: {PROTOCOL_DESCRIPTIONS[summary['protocol']]}")
    print(f"{'class':<14}{'Dice':>8}{'ASD':>9}   (ASD in {summary['asd_units']})")
    for name, values in summary["per_class"].items():
        print(f"{name:<14}{values['dice']:>8.4f}{values['asd']:>9.3f}")
    print(f"{'mean':<14}{summary['mean_dice']:>8.4f}{summary['mean_asd']:>9.3f}")
    worst = min(summary["per_volume"], key=lambda row: (row["dice"], -row["asd"]), default=None)
    if worst is not None:
        print(f"lowest Dice: {worst['volume']} {worst['class']} (Dice {worst['dice']:.4f}, ASD {worst['asd']:.3f})")


def add_train_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one method (writes config.json, log.csv, last.pt, metrics.json)")
    add_config_flags(p)  # every TrainConfig field declared with option(...)
    # the flags below name a field in another form (a count or ratio, a word for a bool, a list)
    p.add_argument("--labeled", required=True, help="labelled patients: a count (3) or a ratio (0.05 or 5%%)")
    p.add_argument(
        "--student-labeled-view", choices=("strong", "weak"), default=None,
        help="augmentation of the labelled slices the student's L_sup sees (default weak, as the supervised baseline; strong = paper)",
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
        "--ema-warmup", choices=("on", "off"), default=None,
        help="EMA momentum min(1 - 1/(t+1), m) as in the public code (default on; off = paper as printed)",
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

    e = sub.add_parser("evaluate", help="Dice and ASD of a checkpoint on a split of a data set (la: also Jaccard and 95HD)")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--dataset", required=True, choices=DATASET_CHOICES, metavar="NAME", help=", ".join(DATASET_CHOICES))
    e.add_argument("--root", default=None)
    e.add_argument("--split", choices=("val", "test"), default="val")
    e.add_argument("--device", default="auto")
    e.add_argument(
        "--protocol", choices=("strict", "paper"), default="strict",
        help="2D data sets: strict (default): Dice + symmetric ASD (mm when the spacing is known), a missed class gets the volume "
             "diagonal; paper: the papers' test scripts (medpy dc and directed asd pred->gt in voxels, empty truth "
             "Dice 1/ASD 0, empty prediction Dice 0/ASD 0); --dataset la always scores as the LA literature (sliding "
             "window; Dice, Jaccard, 95HD, ASD in voxels)",
    )  # fmt: skip
    e.add_argument("--csv", default=None, metavar="PATH", help="also write one row per volume and class to PATH (CSV)")
    e.add_argument("--json", action="store_true", help="print one JSON object (with per-volume, per-class rows)")
    e.set_defaults(handler=_cmd_evaluate)
