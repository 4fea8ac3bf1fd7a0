"""Where MONA's query rules put their queries (Eq. 3-5; notebook 02's picture): uniform over
the image, per class, and hard per class (own-class probability <= threshold)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mona_lab.lab.principles import query_allocation, query_picks, soft_label_probabilities
from mona_lab.lab.principles.tailness import boundary_mask
from mona_lab.lab.viz import plot_query_rules

pytestmark = pytest.mark.usefixtures("single_thread")


def _discs(size: int = 96) -> torch.Tensor:
    """[1, S, S]: background, a large disc (1) and a small one (2)."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    label = torch.zeros(size, size, dtype=torch.long)
    label[(y - 40) ** 2 + (x - 40) ** 2 < 24**2] = 1
    label[(y - 70) ** 2 + (x - 72) ** 2 < 7**2] = 2
    return label[None]


def test_hard_queries_sit_on_boundaries_and_each_class_gets_its_share():
    labels = _discs()
    probs = soft_label_probabilities(labels, 3, sigma=2.0)
    picks = query_picks(labels, probs, num_queries=40, seed=0)
    edge = boundary_mask(labels)[:, None].float()
    near_edge = torch.nn.functional.max_pool2d(edge, 9, stride=1, padding=4).reshape(-1) > 0  # within 4 px
    flat = labels.reshape(-1)
    for rule in ("per_class", "hard"):
        assert np.bincount(flat[picks[rule]].numpy(), minlength=3).tolist() == [40, 40, 40]
    uniform_counts = np.bincount(flat[picks["uniform"]].numpy(), minlength=3)
    assert uniform_counts.sum() == 120 and uniform_counts[2] < 10  # the small disc is ~1.7 % of the image
    near = {rule: near_edge[picks[rule]].float().mean().item() for rule in picks}
    large = {rule: near_edge[picks[rule][flat[picks[rule]] < 2]].float().mean().item() for rule in picks}
    # every hard query lies in the unsure band; per-class queries of the large classes mostly inside
    assert near["hard"] == 1.0 and large["per_class"] < 0.4 and near["uniform"] < 0.3, (near, large)
    # query_allocation counts the same picks
    allocation = query_allocation(labels, probs, num_queries=40, seed=0)
    assert allocation["hard"].tolist() == [40, 40, 40]
    assert allocation["uniform"].tolist() == uniform_counts.tolist()


def test_query_picks_rejects_mismatched_probabilities():
    labels = _discs(32)
    with pytest.raises(ValueError, match=r"probs must be \[B, C, H, W\] matching labels \(1, 32, 32\)"):
        query_picks(labels, torch.rand(1, 3, 16, 16))


def test_plot_query_rules_crops_to_the_foreground_and_titles_the_counts():
    labels = _discs()
    probs = soft_label_probabilities(labels, 3, sigma=2.0)
    picks = query_picks(labels, probs, num_queries=10, seed=1)
    fig, axes = plt.subplots(1, 3)
    counts = plot_query_rules(torch.rand(96, 96), labels[0], picks, ["bg", "big", "small"], axes, margin=4)
    assert counts["hard"].tolist() == [10, 10, 10]
    shown = axes[2].images[0].get_array().shape[:2]
    assert shown == (76 - 17 + 1 + 8, 78 - 17 + 1 + 8)  # foreground rows 17..76, cols 17..78, plus 4 each side
    assert "small 10" in axes[2].get_title() and "hard" in axes[2].get_title()
    plt.close(fig)
