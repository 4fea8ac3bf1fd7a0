"""``mona-lab data stats`` and ``mona-lab data phantom``.

``mona-lab data stats --dataset {phantom,acdc,nifti} [--root PATH] [--json]`` prints the
per-class table of `mona_lab.data.stats` over the training slices at native resolution (or,
with ``--json``, one JSON object with ``dataset``, ``classes``, ``fractions``,
``zipf_exponent`` and more).

``mona-lab data phantom --out DIR [--patients N] [--seed S] [--heterogeneity H]`` writes the
phantom (``H``: `PhantomConfig.heterogeneity`, also on ``stats``) as NIfTI in the official
ACDC layout (spacing in the header) plus ``dataset.json`` and ``train/val/test.list``; it refuses a non-empty ``DIR`` unless ``--overwrite`` is given.
Read it back with ``--dataset nifti --root DIR``.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from mona_lab.errors import MonaLabError

DATASET_CHOICES = ("phantom", "acdc", "nifti")
HETEROGENEITY_HELP = "phantom inter-patient variation in [0, 2] (default 0; 1 ~ ACDC's spread)"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _cmd_stats(args: argparse.Namespace) -> int:
    from mona_lab.data.dataset import dataset_class_stats
    from mona_lab.data.sources import phantom_config_for

    phantom = None
    if args.dataset == "phantom":
        phantom = phantom_config_for(seed=args.seed)
        import dataclasses

        if args.zipf_exponent is not None:
            phantom = dataclasses.replace(phantom, zipf_exponent=args.zipf_exponent)
        if args.heterogeneity is not None:
            phantom = dataclasses.replace(phantom, heterogeneity=args.heterogeneity)
    stats = dataset_class_stats(args.dataset, args.root, seed=args.seed, phantom=phantom)
    if args.json:
        payload = stats.to_dict()
        if isinstance(payload["zipf_exponent"], float) and math.isnan(payload["zipf_exponent"]):
            payload["zipf_exponent"] = None
        print(json.dumps(payload))
    else:
        print(stats.format_table())
    return 0


def _cmd_phantom(args: argparse.Namespace) -> int:
    import dataclasses

    from mona_lab.data.nifti import write_acdc_nifti
    from mona_lab.data.phantom import PHANTOM_CLASS_NAMES, PhantomConfig, make_phantom, phantom_split

    config = PhantomConfig(num_patients=args.patients, seed=args.seed)
    if args.image_size is not None:
        config = dataclasses.replace(config, image_size=args.image_size)
    if args.zipf_exponent is not None:
        config = dataclasses.replace(config, zipf_exponent=args.zipf_exponent)
    if args.heterogeneity is not None:
        config = dataclasses.replace(config, heterogeneity=args.heterogeneity)
    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:  # check before the work
        raise MonaLabError(f"--out folder {out} is not empty; choose a new folder or pass --overwrite")
    train, val, test = phantom_split(config.num_patients)
    written = write_acdc_nifti(
        make_phantom(config),
        out,
        PHANTOM_CLASS_NAMES,
        splits={"train": train, "val": val, "test": test},
        overwrite=args.overwrite,
    )
    print(
        f"wrote {len(written) // 2} volumes of {config.num_patients} patients to {out} "
        f"(official ACDC layout; read back with --dataset nifti --root {out})"
    )
    return 0


def add_data_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` with sub-commands ``stats`` and ``phantom`` to the ``mona-lab`` parser."""
    data = subparsers.add_parser("data", help="data set statistics; write the phantom as NIfTI")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    stats = sub.add_parser("stats", help="per-class pixel fractions, slice presence and the Zipf exponent")
    stats.add_argument("--dataset", required=True, choices=DATASET_CHOICES)
    stats.add_argument("--root", default=None, help="data folder (acdc: default $MONA_LAB_ACDC, then data/ACDC)")
    stats.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    stats.add_argument("--seed", type=_non_negative_int, default=0, help="phantom seed (default 0)")
    stats.add_argument("--zipf-exponent", type=float, default=None, help="phantom Zipf exponent (default 1.0)")
    stats.add_argument("--heterogeneity", type=float, default=None, help=HETEROGENEITY_HELP)
    stats.set_defaults(handler=_cmd_stats)

    phantom = sub.add_parser("phantom", help="write the phantom as NIfTI in the official ACDC layout")
    phantom.add_argument("--out", required=True, help="target folder (must be new or empty)")
    phantom.add_argument("--patients", type=_positive_int, default=40, help="number of patients (default 40)")
    phantom.add_argument("--seed", type=_non_negative_int, default=0, help="seed (default 0)")
    phantom.add_argument("--image-size", type=_positive_int, default=None, help="slice size (default 128)")
    phantom.add_argument("--zipf-exponent", type=float, default=None, help="Zipf exponent (default 1.0)")
    phantom.add_argument("--heterogeneity", type=float, default=None, help=HETEROGENEITY_HELP)
    phantom.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty folder")
    phantom.set_defaults(handler=_cmd_phantom)
