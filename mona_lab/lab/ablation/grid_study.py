"""The ablation grid as a resumable study (``benchmarks/ablation_grid.py``).

`data_settings` says which data a study trains on (the phantom's heterogeneity and Zipf
exponent included, for ``benchmarks/phantom_studies.py``); `grid_study_runs` turns the grid
(`grid_jobs`: supervised, vanilla, each principle alone, each pair, all three, the
diagnostic vanilla without L_unsup, per seed; or a chosen subset of the rows) into
`mona_lab.lab.study_runs.StudyRun`s whose settings hold everything that determines a run
(data set, budget, switches, seed); `train_grid_run` trains one of them with
`run_ablation_row` (the function worker processes call); `load_study_data` loads the
phantom or ACDC the same way in every process; `grid_record_row` turns a stored record
back into the grid's run row.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from mona_lab.lab.ablation.paper import COMBINATIONS
from mona_lab.lab.ablation.runs import AblationBudget, grid_jobs, json_ready, run_ablation_row
from mona_lab.lab.study_runs import StudyRun

DATASETS = ("phantom", "acdc")
_CODES = {"tailness": "t", "consistency": "c", "diversity": "d"}
_DATA_CACHE: dict[str, Any] = {}


def data_settings(
    dataset: str,
    image_size: int,
    patients: int | None = None,
    phantom_seed: int = 0,
    *,
    heterogeneity: float | None = None,
    zipf_exponent: float | None = None,
) -> dict[str, Any]:
    """What identifies a study's data: ``{"name", "image_size"}`` plus, for the phantom,
    ``patients`` and ``seed`` (ACDC is the fixed SSL4MIS split: its location is not part of it).

    ``heterogeneity`` and ``zipf_exponent`` (`PhantomConfig` fields; ``benchmarks/phantom_studies.py``
    varies them) are added only when given, so the settings, and with them the run folders'
    hashes, of studies on the default phantom (level 0, exponent 1; the stored ablation grid)
    stay what they were.

    Raises:
        ValueError: an unknown data set, a phantom without ``patients``, or a heterogeneity or
            Zipf exponent given for ACDC.
        MonaLabError: a heterogeneity outside [0, 2] or an exponent outside [0, 4] (`PhantomConfig`).
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset == "acdc":
        if heterogeneity is not None or zipf_exponent is not None:
            raise ValueError("heterogeneity and zipf_exponent are phantom settings; ACDC (a fixed data set) has neither")
        return {"name": "acdc", "image_size": int(image_size)}
    if not patients:
        raise ValueError("the phantom needs a patient count (patients >= 1)")
    settings = {"name": "phantom", "image_size": int(image_size), "patients": int(patients), "seed": int(phantom_seed)}
    if heterogeneity is not None:
        settings["heterogeneity"] = float(heterogeneity)
    if zipf_exponent is not None:
        settings["zipf_exponent"] = float(zipf_exponent)
    phantom_config(settings)  # an out-of-range level or exponent fails here, before any run starts
    return settings


def phantom_config(settings: dict[str, Any]):
    """The `PhantomConfig` of phantom `data_settings` (level 0 and exponent 1 when absent)."""
    from mona_lab.data import PhantomConfig

    return PhantomConfig(num_patients=settings["patients"], image_size=settings["image_size"], seed=settings["seed"],
                         heterogeneity=settings.get("heterogeneity", 0.0),
                         zipf_exponent=settings.get("zipf_exponent", 1.0))  # fmt: skip


def load_study_data(settings: dict[str, Any]):
    """The `SegmentationData` of `data_settings` (cached per process). ACDC comes from
    ``$MONA_LAB_ACDC`` (`mona_lab.data.resolve_acdc_root` raises a clear error without it)."""
    from mona_lab.data import load_dataset

    key = repr(sorted(settings.items()))
    if key not in _DATA_CACHE:
        if settings["name"] == "acdc":
            data = load_dataset("acdc", image_size=settings["image_size"])
        else:
            data = load_dataset("phantom", phantom=phantom_config(settings))
        _DATA_CACHE.clear()  # one data set per process
        _DATA_CACHE[key] = data
    return _DATA_CACHE[key]


def run_name(job: dict[str, Any]) -> str:
    """A short name for ``--only``: ``seed0-supervised``, ``seed1-vanilla``, ``seed0-tc``,
    ``seed2-tcd``, ``seed0-vanilla_no_unsup``, ``seed0-tcd_queue12``."""
    if job["method"] == "supervised":
        code = "supervised"
    else:
        code = "".join(c for p, c in _CODES.items() if job[p]) or "vanilla"
        if job.get("overrides", {}).get("lambda_unsup") == 0.0:
            code += "_no_unsup"
        if job.get("queue_size") is not None:
            code += f"_queue{job['queue_size']}"
    return f"seed{job['seed']}-{code}"


def grid_study_runs(
    data: dict[str, Any],
    seeds,
    budget: AblationBudget,
    *,
    labeled: float,
    sampler: str = "ns",
    device: str = "cpu",
    include_supervised: bool = True,
    include_diagnostics: bool = True,
    queue_sizes=(),
    combinations=COMBINATIONS,
    overrides: dict[str, Any] | None = None,
    prefix: str = "",
) -> list[StudyRun]:
    """Every run of the grid (and the extra mined-view set sizes, full MONA, first seed).

    ``combinations`` (default: all eight), ``overrides`` (other `TrainConfig` fields of every
    run, e.g. a budget's optimiser; stored in each job only when given) and ``prefix`` (put
    before each run name, e.g. ``"h0.5-"`` when a study has one grid per setting) let
    another study train a subset of the rows; the defaults give the ablation grid's runs
    with its settings unchanged.
    """
    jobs = grid_jobs(seeds, include_supervised=include_supervised, include_diagnostics=include_diagnostics,
                     combinations=combinations)  # fmt: skip
    jobs += [{"method": "mona", "tailness": True, "consistency": True, "diversity": True, "seed": int(seeds[0]),
              "queue_size": int(q)} for q in queue_sizes if int(q) != budget.queue_size]  # fmt: skip
    runs = []
    for job in jobs:
        if overrides:
            job = {**job, "overrides": {**overrides, **job.get("overrides", {})}}
        settings = {"data": data, "budget": budget.to_dict(), "labeled": labeled, "sampler": sampler,
                    "device": device, "job": job}  # fmt: skip
        name = run_name(job)
        runs.append(StudyRun(prefix + name, settings, kind=name.split("-", 1)[1]))  # runs of one row cost alike
    return runs


def train_grid_run(settings: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Train one grid run into ``folder``; its JSON row plus ``queue_size`` (the worker function)."""
    data = load_study_data(settings["data"])
    budget = AblationBudget(**settings["budget"])
    job = dict(settings["job"])
    queue_size = job.pop("queue_size", None)
    if queue_size is not None:
        budget = dataclasses.replace(budget, queue_size=int(queue_size))
    row = run_ablation_row(labeled=settings["labeled"], sampler=settings["sampler"], data=data, budget=budget,
                           device=settings["device"], out=Path(folder), keep_result=False, **job)  # fmt: skip
    row = json_ready(row)
    row["train_seconds"], row["train_cpu_seconds"] = row.pop("seconds"), row.pop("cpu_seconds")
    row["queue_size"] = budget.queue_size
    row["out"] = os.fspath(folder)
    return row


def grid_record_row(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record as a row of the grid JSON (`mona_lab.lab.study_runs.record_row`)."""
    from mona_lab.lab.study_runs import record_row

    return record_row(record)


__all__ = [
    "DATASETS",
    "data_settings",
    "grid_record_row",
    "grid_study_runs",
    "load_study_data",
    "phantom_config",
    "run_name",
    "train_grid_run",
]
