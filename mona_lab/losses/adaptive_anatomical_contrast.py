"""ACTION++ supervised adaptive anatomical contrast (SAACL, MICCAI 2023 Sec. 2.2, Eq. 3-5).

Three steps (ACTION++ Sec. 2.2):

1. off-line, K class centres psi* uniformly spread on the unit sphere (Eq. 3,
   `mona_lab.losses.class_centers.uniform_class_centers`);
2. adaptive allocation: moving-average class means phi_c, updated each training step by
   phi_c <- (1 - eta) phi_c + eta phi_c(B) with phi_c(B) the normalised sum of the batch's
   class-c embeddings, are matched one to one to the centres by minimum total distance
   (Eq. 4, `allocate_class_centers`), re-solved every step;
3. the loss over n labelled pixels (Eq. 5)::

       L = -(1/n) sum_i [ mean_{p in P(i)} log( exp(phi_i.phi_p/tau) / sum_{j != i} exp(phi_i.phi_j/tau) )
                          + lambda_a log( exp(phi_i.nu_i/tau) / sum_{j != i} exp(phi_i.phi_j/tau) ) ]

   with nu_i = psi*_{pi*(y_i)} the centre allocated to pixel i's class, P(i) the other
   sampled pixels of the same class and j running over every other sampled pixel.

Choices where the paper leaves room (tested in tests/test_loss_adaptive_contrast.py):

- Eq. 5 prints a plain sum over "uniformly sampled positive examples"; mona_lab averages over
  all same-class samples, i.e. the expectation over one uniformly sampled positive (the
  form of targeted supervised contrast, ACTION++ ref. [17]). A plain sum over ~256
  positives would drown the lambda_a = 0.2 centre term. An anchor with no positive keeps
  only its centre term.
- Both denominators run over the other sampled pixels only, as printed (the centre is not
  added to its own denominator).
- The n pixels are drawn per class with `mona_lab.samplers.sample_pixels` (``num_samples``
  per class present, NS/SG/SAG), so tail classes are represented; per class the loss is the
  sampler-weighted mean over its anchors and the total is the mean over classes -- equal
  to (1/n) sum_i when every class gets the same number of draws and weights are 1/n_c.
  ``num_samples=None`` uses every labelled pixel (exact Eq. 5, small inputs only).
- eta is not given in the paper: ``momentum=0.1`` (weight of the new batch mean). The first
  time a class is seen its moving average is set to the batch mean.
- Embeddings are L2-normalised; the centres are fixed buffers (no gradient).
- ``allocation="random"``: a fixed random assignment drawn once from ``seed`` (the
  "SAACL (random assign)" row of ACTION++ Table 3).
- The temperature tau_sa is a settable attribute (and a per-call override) so the
  anatomical-aware temperature scheduler (ATS, Eq. 6) can set it every step.
- Fewer than two sampled pixels (e.g. everything ignored): the loss is ``0 * features.sum()``,
  zero and connected to the graph.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mona_lab.losses.class_centers import allocate_class_centers, uniform_class_centers
from mona_lab.losses.contrast_checks import (
    SAMPLER_CHOICES,
    SettableTemperature,
    check_contrast_inputs,
    check_temperature,
    is_positive_int,
)
from mona_lab.losses.contrast_draw import draw_class_pixels
from mona_lab.losses.pixel_statistics import gather_rows, pixel_statistics

ALLOCATION_CHOICES = ("adaptive", "random")


class AdaptiveAnatomicalContrastLoss(SettableTemperature, nn.Module):
    """SAACL: supervised pixel contrast plus contrast to allocated uniform class centres (ACTION++ Eq. 5).

    See the module docstring for the equation and the choices made.

    Args:
        num_classes: K, background included (one centre per class).
        dim: d, the embedding dimension (128 in ACTION++).
        num_samples: pixels drawn per class present (256); ``None``: every labelled pixel.
        center_weight: lambda_a (0.2).
        temperature: tau_sa (0.1 until a schedule sets it); settable attribute.
        momentum: eta of the moving-average class means (0.1).
        sampler: ``"ns"``, ``"sg"``, ``"sag"`` or ``"block"``.
        grid: cells per spatial axis for the grouped samplers (capped at the image size).
        allocation: ``"adaptive"`` (Eq. 4 every training step) or ``"random"`` (fixed).
        centers: [K, d] centres to use instead of `uniform_class_centers(K, d, seed=seed)`.
        seed: seed of the centres (and of the random allocation).

    Shapes:
        features: [B, d, H, W] (or [B, d, Z, H, W]) pixel embeddings of labelled images.
        labels: [B, H, W] (or [B, Z, H, W]) int64 ground truth, -1 = ignore.
        returns: scalar.

    Buffers (saved in ``state_dict``): ``centers`` [K, d], ``class_means`` [K, d],
    ``class_seen`` [K] bool, ``assignment`` [K] int64 (``assignment[c]`` = centre of class c).

    Raises:
        ValueError: invalid settings; in forward, mismatched shapes or labels outside [-1, K).
    """

    def __init__(
        self,
        num_classes: int,
        dim: int = 128,
        *,
        num_samples: int | None = 256,
        center_weight: float = 0.2,
        temperature: float = 0.1,
        momentum: float = 0.1,
        sampler: str = "ns",
        grid: int | tuple[int, ...] = 4,
        allocation: str = "adaptive",
        centers: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 2:
            raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
        if num_samples is not None and not is_positive_int(num_samples):
            raise ValueError(f"num_samples must be a positive integer or None, got {num_samples!r}")
        if not float(center_weight) >= 0.0:
            raise ValueError(f"center_weight must be >= 0, got {center_weight!r}")
        if not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must lie in (0, 1], got {momentum!r}")
        if sampler not in SAMPLER_CHOICES:
            raise ValueError(f"sampler must be one of {SAMPLER_CHOICES}, got {sampler!r}")
        if allocation not in ALLOCATION_CHOICES:
            raise ValueError(f"allocation must be one of {ALLOCATION_CHOICES}, got {allocation!r}")
        if centers is None:
            centers = uniform_class_centers(num_classes, dim, seed=seed)
        elif not isinstance(centers, torch.Tensor) or tuple(centers.shape) != (num_classes, dim):
            raise ValueError(
                f"centers must be a [{num_classes}, {dim}] tensor, got "
                f"{tuple(centers.shape) if isinstance(centers, torch.Tensor) else type(centers).__name__}"
            )
        self.num_classes = num_classes
        self.dim = dim
        self.num_samples = num_samples
        self.center_weight = float(center_weight)
        self.temperature = temperature
        self.momentum = float(momentum)
        self.sampler = sampler
        self.grid = grid
        self.allocation = allocation
        self.register_buffer("centers", F.normalize(centers.detach().float(), dim=1))
        self.register_buffer("class_means", torch.zeros(num_classes, dim))
        self.register_buffer("class_seen", torch.zeros(num_classes, dtype=torch.bool))
        if allocation == "random":
            assignment = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
        else:
            assignment = torch.arange(num_classes)
        self.register_buffer("assignment", assignment)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, dim={self.dim}, num_samples={self.num_samples}, "
            f"center_weight={self.center_weight}, temperature={self.temperature}, momentum={self.momentum}, "
            f"sampler={self.sampler!r}, allocation={self.allocation!r}"
        )

    @torch.no_grad()
    def update_allocation(self, flat_features: torch.Tensor, flat_labels: torch.Tensor) -> None:
        """Moving-average class means from one batch, then re-solve Eq. 4 (adaptive allocation only).

        Args:
            flat_features: [B, d, S] embeddings.
            flat_labels: [B, S] int64 labels, -1 = ignore.
        """
        statistics = pixel_statistics(flat_features.float(), flat_labels, self.num_classes)
        batch_means = F.normalize(statistics.means, dim=1).to(self.class_means.device)  # sum / ||sum||
        present = (statistics.counts > 0).to(self.class_means.device)
        blended = (1.0 - self.momentum) * self.class_means + self.momentum * batch_means
        updated = torch.where(self.class_seen[:, None], blended, batch_means)
        self.class_means.copy_(torch.where(present[:, None], updated, self.class_means))
        self.class_seen |= present
        if self.allocation == "adaptive":
            self.assignment.copy_(allocate_class_centers(self.class_means, self.centers))

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        *,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """SAACL loss of one labelled batch (scalar).

        In training mode the class means and the allocation are updated first (from this
        batch, without gradient), then the loss uses the new allocation.

        Args:
            features: [B, d, *spatial] embeddings (normalised inside).
            labels: [B, *spatial] int64 ground truth, -1 = ignore.
            temperature: overrides ``self.temperature`` for this call.
            generator: a ``torch.Generator`` on the data's device for reproducible draws.
        """
        tau = self.temperature if temperature is None else check_temperature(temperature)
        check_contrast_inputs(features, labels, None, num_classes=self.num_classes, embed_dim=self.dim, hard_queries=False)
        batch = features.shape[0]
        flat_features = features.reshape(batch, self.dim, -1)
        labels = labels.long()
        flat_labels = labels.reshape(batch, -1)
        if self.training:
            self.update_allocation(flat_features.detach(), flat_labels)

        index, weight, label = self.draw(labels, generator)
        if index.numel() < 2:
            return features.sum() * 0.0
        anchors = F.normalize(gather_rows(flat_features, index), dim=1)  # [n, d]
        return self.loss_from_samples(anchors, label, weight, tau)

    def draw(self, labels: torch.Tensor, generator: torch.Generator | None = None):
        """Per class present, ``num_samples`` pixels through the sampler (or all of them):
        the n pixels of Eq. 5, drawn with `mona_lab.losses.contrast_draw.draw_class_pixels`.

        Returns:
            (index [n] int64 flat into labels.flatten(), weight [n] float summing to 1 per
            class, label [n] int64).
        """
        device = labels.device
        flat = labels.reshape(-1)
        indices, weights, classes = [], [], []
        for c in torch.unique(flat[flat >= 0]).tolist():
            index, weight = draw_class_pixels(
                labels == c, self.num_samples, sampler=self.sampler, grid=self.grid, generator=generator
            )
            indices.append(index)
            weights.append(weight)
            classes.append(torch.full((index.numel(),), c, dtype=torch.int64, device=device))
        if not indices:
            empty = torch.zeros(0, dtype=torch.int64, device=device)
            return empty, empty.double(), empty
        return torch.cat(indices), torch.cat(weights), torch.cat(classes)

    def loss_from_samples(
        self, anchors: torch.Tensor, label: torch.Tensor, weight: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        """Eq. 5 on normalised samples.

        Args:
            anchors: [n, d] unit-norm embeddings phi_i (n >= 2).
            label: [n] int64 classes y_i.
            weight: [n] sampler weights, summing to 1 within each class.
            temperature: tau_sa.

        Returns:
            scalar: mean over classes of the weighted per-anchor loss.
        """
        count = anchors.shape[0]
        similarity = anchors @ anchors.T
        logits = similarity.to(torch.promote_types(similarity.dtype, torch.float32)) / temperature  # [n, n]
        self_pair = torch.eye(count, dtype=torch.bool, device=anchors.device)
        log_denominator = torch.logsumexp(logits.masked_fill(self_pair, float("-inf")), dim=1)  # [n]
        positive = (label[:, None] == label[None, :]) & ~self_pair
        num_positive = positive.sum(dim=1)
        positive_log_prob = (logits - log_denominator[:, None]).masked_fill(~positive, 0.0).sum(dim=1)
        positive_term = positive_log_prob / num_positive.clamp_min(1)
        centers = self.centers[self.assignment[label]].to(anchors.dtype)  # nu_i, [n, d]
        center_term = (anchors * centers).sum(dim=1).to(logits.dtype) / temperature - log_denominator
        per_anchor = -(positive_term + self.center_weight * center_term)
        per_class = torch.zeros(self.num_classes, device=anchors.device, dtype=per_anchor.dtype)
        per_class = per_class.index_add(0, label, weight.to(per_anchor.dtype) * per_anchor)
        return per_class.sum() / torch.unique(label).numel()
