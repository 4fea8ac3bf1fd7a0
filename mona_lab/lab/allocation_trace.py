"""A short supervised training loop that records ACTION++'s class-centre allocation.

ACTION++ (MICCAI 2023, Sec. 2.2) fixes K class centres on the unit sphere off-line
(Eq. 3) and, at every training step, matches the moving-average class means to them one
to one by least total distance (Eq. 4); SAACL (Eq. 5) then pulls each labelled pixel to
its class's centre. The recipe in `mona_lab.methods` does this inside ACTION++'s third
stage, but the engine keeps only the final allocation. `trace_center_allocation` trains
a UNet on labelled slices with ``L_sup + weight * SAACL`` (the labelled part of that
stage) and records, after every step, the class means, the allocation and the
temperature, so a notebook can draw the means travelling towards their centres (with
``embed_dim=3``, on a sphere) and compare temperature schedules (Eq. 6).

`nearest_centre_accuracy` measures, per class, how often a pixel's embedding is nearest
to the centre allocated to its class: the nearest-neighbour classifier ``g_f`` of
ACTION++'s Appendix A, whose per-class error weights head and tail classes equally.

Choices (documented, not from the paper): no augmentation, batches drawn uniformly from
the given slices with a seeded generator, SGD (momentum 0.9), SAACL weight 1.0 by default
(the recipe's ``lambda_contrast`` 0.01 would need thousands of steps to show movement).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mona_lab.losses import AdaptiveAnatomicalContrastLoss, DiceCELoss
from mona_lab.models import build_model
from mona_lab.schedules import TemperatureSchedule


@dataclass
class AllocationTrace:
    """What `trace_center_allocation` records (numpy arrays, one row per step).

    Attributes:
        steps: ``[T]`` iteration numbers.
        temperature: ``[T]`` tau used at each step.
        loss: ``[T]`` total loss; saacl: ``[T]`` the SAACL part.
        class_means: ``[T, K, d]`` moving-average class means after each step's update.
        assignment: ``[T, K]`` centre index of each class after each step (Eq. 4).
        centers: ``[K, d]`` the fixed centres (Eq. 3).
        class_names: K names.
    """

    steps: np.ndarray
    temperature: np.ndarray
    loss: np.ndarray
    saacl: np.ndarray
    class_means: np.ndarray
    assignment: np.ndarray
    centers: np.ndarray
    class_names: tuple[str, ...]

    def unit_means(self) -> np.ndarray:
        """``[T, K, d]`` class means scaled to unit length (where they point on the sphere)."""
        norms = np.linalg.norm(self.class_means, axis=-1, keepdims=True)
        return self.class_means / np.maximum(norms, 1e-12)

    def centre_distances(self) -> np.ndarray:
        """``[T, K]`` distance from each (unit) class mean to its allocated centre."""
        allocated = self.centers[self.assignment]  # [T, K, d]
        return np.linalg.norm(self.unit_means() - allocated, axis=-1)

    def reassignments(self) -> np.ndarray:
        """``[T]`` number of classes whose centre changed at that step (0 at step 0)."""
        changes = (self.assignment[1:] != self.assignment[:-1]).sum(axis=1)
        return np.concatenate([[0], changes])


def _schedule(temperature: float | TemperatureSchedule, steps: int) -> TemperatureSchedule:
    if isinstance(temperature, TemperatureSchedule):
        return temperature
    return TemperatureSchedule(kind="fixed", total=steps, tau_fixed=float(temperature))


def trace_center_allocation(
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names,
    *,
    steps: int = 40,
    embed_dim: int = 3,
    temperature: float | TemperatureSchedule = 0.1,
    lr: float = 0.05,
    batch_size: int = 6,
    num_samples: int = 64,
    center_weight: float = 0.2,
    saacl_weight: float = 1.0,
    width: float = 0.5,
    representation_stride: int = 4,
    seed: int = 0,
    device: str | torch.device = "cpu",
):
    """Train ``L_sup + saacl_weight * SAACL`` for ``steps`` steps and record the allocation.

    Args:
        images: ``[N, 1, H, W]`` labelled training slices; labels: ``[N, H, W]``.
        class_names: K names (K = number of classes, background included).
        steps: SGD steps.
        embed_dim: d of the representation (3 puts the centres on a drawable sphere).
        temperature: tau_sa, a constant or a `mona_lab.schedules.TemperatureSchedule`
            (e.g. ATS: ``TemperatureSchedule("cosine", total=steps)``).
        lr, batch_size: SGD learning rate (momentum 0.9) and batch size.
        num_samples, center_weight: SAACL's pixels per class and lambda_a (0.2).
        saacl_weight: weight of SAACL next to Dice + CE.
        width, representation_stride: the UNet's width and representation stride.
        seed: seeds the model initialisation, the batches and the pixel draws.
        device: where to train.

    Returns:
        ``(trace, model, loss)``: the `AllocationTrace`, the trained network (eval mode)
        and the `AdaptiveAnatomicalContrastLoss` with its final buffers.

    Raises:
        ValueError: mismatched images/labels, fewer slices than ``batch_size``, bad steps.
    """
    if images.ndim != 4 or labels.ndim != 3 or images.shape[0] != labels.shape[0] or images.shape[2:] != labels.shape[1:]:
        raise ValueError(f"images [N, 1, H, W] and labels [N, H, W] must match, got {tuple(images.shape)} and {tuple(labels.shape)}")
    if images.shape[0] < batch_size:
        raise ValueError(f"need at least batch_size={batch_size} slices, got {images.shape[0]}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    device = torch.device(device)
    names = tuple(class_names)
    schedule = _schedule(temperature, steps)
    torch.manual_seed(seed)
    model = build_model(
        num_classes=len(names), in_channels=images.shape[1], width=width, embed_dim=embed_dim,
        heads=("representation",), representation_stride=representation_stride,
    ).to(device)  # fmt: skip
    saacl = AdaptiveAnatomicalContrastLoss(
        len(names), embed_dim, num_samples=num_samples, center_weight=center_weight, seed=seed
    ).to(device)
    supervised = DiceCELoss()
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    records: dict[str, list] = {k: [] for k in ("tau", "loss", "saacl", "means", "assignment")}
    model.train()
    saacl.train()
    for step in range(steps):
        pick = torch.randint(0, images.shape[0], (batch_size,), generator=generator)
        x, y = images[pick].to(device), labels[pick].to(device)
        out = model(x, heads=("representation",))
        small = F.interpolate(y[:, None].float(), size=out.representation.shape[-2:], mode="nearest")[:, 0].long()
        tau = schedule(step)
        contrast = saacl(out.representation, small, temperature=tau, generator=generator)
        loss = supervised(out.logits, y) + saacl_weight * contrast
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        records["tau"].append(tau)
        records["loss"].append(float(loss.detach()))
        records["saacl"].append(float(contrast.detach()))
        records["means"].append(saacl.class_means.detach().cpu().double().numpy().copy())
        records["assignment"].append(saacl.assignment.detach().cpu().numpy().copy())
    model.eval()
    trace = AllocationTrace(
        steps=np.arange(steps),
        temperature=np.asarray(records["tau"]),
        loss=np.asarray(records["loss"]),
        saacl=np.asarray(records["saacl"]),
        class_means=np.stack(records["means"]),
        assignment=np.stack(records["assignment"]),
        centers=saacl.centers.detach().cpu().double().numpy(),
        class_names=names,
    )
    return trace, model, saacl


@torch.no_grad()
def nearest_centre_accuracy(model, saacl: AdaptiveAnatomicalContrastLoss, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Per class, the share of its pixels whose embedding is nearest to the class's centre.

    ACTION++ Appendix A's classifier ``g_f(p) = argmin_c ||f(p) - psi_{pi(c)}||`` on the
    representation grid (labels resized by nearest neighbour), with the allocation ``pi``
    held in ``saacl.assignment``.

    Args:
        model: network with a representation head; saacl: its trained SAACL module.
        images: ``[N, 1, H, W]``; labels: ``[N, H, W]``.

    Returns:
        ``[K]`` float64 accuracies (NaN for a class absent from ``labels``).
    """
    device = next(model.parameters()).device
    model.eval()
    rep = model(images.to(device), heads=("representation",)).representation
    small = F.interpolate(labels[:, None].float().to(device), size=rep.shape[-2:], mode="nearest")[:, 0].long()
    emb = F.normalize(rep, dim=1).movedim(1, -1).reshape(-1, rep.shape[1])  # [P, d]
    centres = saacl.centers[saacl.assignment]  # row c = centre of class c
    predicted = torch.cdist(emb.double(), centres.double()).argmin(dim=1)
    truth = small.reshape(-1)
    accuracy = np.full(saacl.num_classes, np.nan)
    for c in range(saacl.num_classes):
        hit = truth == c
        if hit.any():
            accuracy[c] = float((predicted[hit] == c).double().mean())
    return accuracy


__all__ = ["AllocationTrace", "nearest_centre_accuracy", "trace_center_allocation"]
