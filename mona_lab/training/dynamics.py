"""Training dynamics: weight norms and each loss term's gradient norm at a few named layers.

Why: every conv of the UNet is followed by BatchNorm, so a conv's output ignores its
weight's scale and its effective learning rate is ``lr / |w|^2``. An auxiliary loss whose
gradient dwarfs L_sup's at the encoder grows |w| and freezes the segmentation network
while the loss curves look healthy (issue "Methods that work"). The training loop writes, every
``TrainConfig.dynamics_every`` iterations, one row of ``dynamics.csv``::

    step, stage,
    weight_norm@LAYER                   |w| of the layer's weight
    grad@LAYER:TERM                     |d (lambda_TERM * L_TERM) / d w|, TERM in the total
    bn_running_var@bottleneck           mean running variance of the bottleneck's last BN

for LAYER in `TRACKED_LAYERS` (first conv, bottleneck conv, classifier; the VNet's in
`TRACKED_LAYERS_3D`). The gradients are
taken term by term with ``torch.autograd.grad`` on the step's graph before the step's own
backward (a few extra backward passes every N iterations, none in between).
`mona_lab.lab.viz.plot_training_dynamics` draws the file.
"""
from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import torch
from torch import nn

# layer name -> parameter of the student `SegmentationNetwork` (2D UNet)
TRACKED_LAYERS = {
    "first_conv": "backbone.encoder.0.layers.0.weight",
    "bottleneck_conv": "backbone.encoder.4.1.layers.4.weight",
    "classifier": "backbone.classifier.weight",
}
BOTTLENECK_NORM = "backbone.encoder.4.1.layers.5"
# the same layers of the 3D `VNet3D` backbone: the stem's conv, the last conv of the
# bottleneck stage (depth 3: conv-BN-ReLU, conv-BN-ReLU, conv-BN) and the 1x1x1 classifier
TRACKED_LAYERS_3D = {
    "first_conv": "backbone.stem.0.weight",
    "bottleneck_conv": "backbone.encoder.4.body.6.weight",
    "classifier": "backbone.classifier.weight",
}
BOTTLENECK_NORM_3D = "backbone.encoder.4.body.7"


def _layers_of(model: nn.Module) -> tuple[dict[str, str], str]:
    """The tracked layer names and the bottleneck norm of ``model``'s backbone (UNet or VNet)."""
    params = dict(model.named_parameters())
    return (TRACKED_LAYERS_3D, BOTTLENECK_NORM_3D) if TRACKED_LAYERS_3D["first_conv"] in params else (TRACKED_LAYERS, BOTTLENECK_NORM)


def tracked_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The `TRACKED_LAYERS` weights of ``model`` that it has (`TRACKED_LAYERS_3D` for a VNet)."""
    params = dict(model.named_parameters())
    layers, _ = _layers_of(model)
    return {layer: params[name] for layer, name in layers.items() if name in params}


@torch.no_grad()
def weight_norms(model: nn.Module) -> dict[str, float]:
    """``{"weight_norm@LAYER": |w|}`` plus the bottleneck BN's mean running variance."""
    row = {f"weight_norm@{layer}": float(p.detach().norm()) for layer, p in tracked_parameters(model).items()}
    norm = dict(model.named_modules()).get(_layers_of(model)[1])
    if isinstance(norm, (nn.BatchNorm2d, nn.BatchNorm3d)) and norm.running_var is not None:
        row["bn_running_var@bottleneck"] = float(norm.running_var.mean())
    return row


def term_gradient_norms(
    model: nn.Module, losses: dict[str, torch.Tensor], weights: dict[str, float]
) -> dict[str, float]:
    """``{"grad@LAYER:TERM": |d (weight * loss) / d w_LAYER|}`` for every weighted term.

    Args:
        model: the student network (its tracked layers must take part in the graph).
        losses: the step's scalar loss terms (graph intact).
        weights: each term's weight in the total (``Method.term_weights``).

    Returns:
        one float per (layer, term); 0.0 where a term does not reach a layer.
    """
    params = tracked_parameters(model)
    names, tensors = list(params), list(params.values())
    row: dict[str, float] = {}
    for term, weight in weights.items():
        loss = losses.get(term)
        if loss is None or not loss.requires_grad or weight == 0.0:
            row.update({f"grad@{layer}:{term}": 0.0 for layer in names})
            continue
        grads = torch.autograd.grad(loss * weight, tensors, retain_graph=True, allow_unused=True)
        for layer, grad in zip(names, grads):
            row[f"grad@{layer}:{term}"] = 0.0 if grad is None else float(grad.norm())
    return row


def dynamics_row(
    step: int, stage: str, model: nn.Module, losses: dict[str, torch.Tensor], weights: dict[str, float]
) -> dict:
    """One ``dynamics.csv`` row: step, stage, `weight_norms` and `term_gradient_norms`."""
    return {"step": step, "stage": stage, **weight_norms(model), **term_gradient_norms(model, losses, weights)}


class DynamicsLog:
    """``dynamics.csv``, one row every N steps; columns grow as new terms appear (a later
    stage adds its terms), so the file is rewritten whole, atomically, at every row (a few
    dozen rows per run)."""

    def __init__(self, path: Path, start_step: int, enabled: bool) -> None:
        self.path, self.enabled = Path(path), enabled
        self.rows: list[dict] = []
        if enabled and start_step > 0 and self.path.exists():
            with self.path.open(newline="") as handle:
                self.rows = [r for r in csv.DictReader(handle) if int(r["step"]) < start_step]
        if enabled:
            self._write()

    def write(self, row: dict) -> None:
        if self.enabled:
            self.rows.append(row)
            self._write()

    def _write(self) -> None:
        from mona_lab.atomic_files import atomic_write_text

        columns = ["step", "stage"]
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        lines = [",".join(columns)]
        for row in self.rows:
            lines.append(",".join(_cell(row.get(c, "")) for c in columns))
        atomic_write_text(self.path, "\n".join(lines) + "\n")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def read_dynamics(path: Path) -> dict[str, list]:
    """``dynamics.csv`` as columns: ``{"step": [...], "stage": [...], "weight_norm@first_conv": [...], ...}``
    (numbers as floats, missing cells as NaN).

    Raises:
        FileNotFoundError: naming the path, when the run wrote no dynamics (``--dynamics-every 0``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (was the run trained with --dynamics-every 0?)")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, list] = {}
    for key in (rows[0].keys() if rows else ()):
        if key == "stage":
            columns[key] = [r[key] for r in rows]
        else:
            columns[key] = [float(r[key]) if r[key] not in ("", None) else math.nan for r in rows]
    return columns


def median_term_shares(columns: dict[str, list], layer: str = "bottleneck_conv", stage: str | None = None) -> dict[str, float]:
    """Each loss term's median gradient share at ``layer``: over the rows of ``stage``, the
    median of ``|d (lambda_TERM L_TERM) / d w| / |d L_sup / d w|`` (issue 22's measure of
    whether a term reaches the network; 0.01 = a hundredth of L_sup's pull).

    Args:
        columns: `read_dynamics`'s columns (or the same dict stored in a benchmark record).
        layer: a `TRACKED_LAYERS` name.
        stage: the stage whose rows count; ``None``: the run's last stage (fine-tuning for
            the methods with pre-training, the only stage otherwise). Early rows alone
            mislead: under the muted recipe an ACDC run's first 150 fine-tuning steps show
            L_nn at 0.6-5.8x L_sup, its whole-stage median is 0.002.

    Returns:
        ``{term: median share}`` for every term but ``sup`` logged in that stage (rows where
        the term or L_sup is missing, or L_sup's gradient is 0, are skipped; a term with no
        such row is left out).

    Raises:
        KeyError: naming the layer when ``columns`` has no L_sup gradient there.
    """
    sup_key = f"grad@{layer}:sup"
    if sup_key not in columns:
        raise KeyError(f"dynamics have no {sup_key!r} column (layers: {sorted({k.split('@')[1].split(':')[0] for k in columns if k.startswith('grad@')})})")
    stages = columns["stage"]
    stage = stages[-1] if stage is None and stages else stage
    rows = [i for i, s in enumerate(stages) if s == stage]
    shares: dict[str, float] = {}
    for key, values in columns.items():
        if not key.startswith(f"grad@{layer}:") or key == sup_key:
            continue
        ratios = []
        for i in rows:
            term, sup = values[i], columns[sup_key][i]
            if term is None or sup is None or term != term or sup != sup or sup == 0:
                continue
            ratios.append(term / sup)
        if ratios:
            shares[key.split(":", 1)[1]] = statistics.median(ratios)
    return shares
