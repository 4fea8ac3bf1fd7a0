"""Which images a BatchNorm network's running statistics are estimated from.

In training mode a BatchNorm layer normalises with the statistics of the batch in front of
it *and* folds them into its running mean and variance, which evaluation then uses. A
teacher-student step puts very different images through the student: the weak view of the
labelled slices, strongly augmented unlabelled slices (deformation, contrast and brightness
changes, CutMix boxes, zero-filled corners), and, for MONA's L_eqv, those transformed once
more. Evaluation sees clean slices. When every such forward updates the running statistics,
the student is evaluated with statistics of images it will never be shown.

Measured (issue "Methods that work"): a MONA run on ACDC (3 labelled patients, seed 0,
1500 iterations, no L_eqv) scored 0.228 mean Dice on the validation volumes; the *same
weights* with the running statistics re-estimated on 400 clean training slices scored
0.411. The papers do not say which images the statistics come from (their code puts every
view through the one network in training mode).

`SegmentationNetwork.forward(..., statistics_rows=k)` runs rows ``[:k]`` through the
backbone in one forward that updates the running statistics and the remaining rows in a
second forward with the running statistics frozen (each group is still normalised by its
own batch statistics); `frozen_running_statistics` is the context manager behind it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def frozen_running_statistics(module: nn.Module) -> Iterator[None]:
    """Inside the block, BatchNorm layers of ``module`` in training mode normalise with the
    batch statistics as usual but leave their running mean and variance unchanged
    (momentum 0; ``num_batches_tracked`` still counts). The momenta are restored on exit,
    also after an exception."""
    saved = []
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.track_running_stats:
            saved.append((layer, layer.momentum))
            layer.momentum = 0.0
    try:
        yield
    finally:
        for layer, momentum in saved:
            layer.momentum = momentum
