"""`CropBatches`: two-stream batches of random 3D crops, the LA literature's training input.

UA-MT (Yu et al., MICCAI 2019, ``train_LA_meanteacher_certainty_unlabel.py``), followed by
SASSNet, DTC, SS-Net, ACTION and ACTION++ (paper 004, Sec. 3): every step draws 2 labelled and
2 unlabelled LA volumes and takes from each ``RandomRotFlip`` then ``RandomCrop`` to 112x112x80
(`rot_flip_3d`, `random_crop_3d`; in ``[D, H, W]`` the crop is (80, 112, 112)). The network
sees the crops only; evaluation slides a window over the whole volume.

`CropBatches` is a `mona_lab.data.TwoStreamBatches` over a `mona_lab.data.volume_data.VolumeData`
whose items are whole volumes: the volumes of step ``t`` come from the same seeded
permutations (each stream without replacement, a fresh permutation per pass), and the crops'
rotations, flips and positions from a generator seeded by ``(seed, t)``, so `batch_at` is a
pure function of the seed and the step and ``state_dict()`` (the step and what defines the
streams, with the crop size) resumes exactly. The unlabelled stream reads images only: the
labels of unlabelled volumes never reach a batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mona_lab.augment.crops3d import random_crop_3d, rot_flip_3d
from mona_lab.data.batches import TwoStreamBatch, TwoStreamBatches
from mona_lab.errors import MonaLabError

_STREAM_CROPS = 4  # a random stream of its own (TwoStreamBatches uses 1-3)


class CropBatches(TwoStreamBatches):
    """Infinite, seeded, resumable labelled + unlabelled batches of augmented 3D crops.

    Args:
        data: a `VolumeData` (``train_images`` / ``train_labels`` are per-volume tensors).
        labeled_ids, unlabeled_ids, batch_size, labeled_fraction, seed: as `TwoStreamBatches`
            (ids are volume ids; the papers' LA batch is 2 + 2: ``batch_size=4``).
        crop_size: ``(D, H, W)`` of every crop; must fit inside every training volume
            (`VolumeData.check_crop`).

    Batches: ``labeled_images [B_l, 1, D, H, W]`` float32, ``labeled_labels [B_l, D, H, W]``
    int64, ``unlabeled_images [B_u, 1, D, H, W]``; ``labeled_index`` / ``unlabeled_index``
    are the volumes' rows.

    Raises:
        MonaLabError: as `TwoStreamBatches`, or a crop larger than a training volume.
    """

    def __init__(
        self,
        data: Any,
        labeled_ids: Sequence[str],
        unlabeled_ids: Sequence[str] | None = None,
        *,
        crop_size: Sequence[int],
        batch_size: int = 4,
        labeled_fraction: float = 0.5,
        seed: int = 0,
    ) -> None:
        super().__init__(
            data, labeled_ids, unlabeled_ids, batch_size=batch_size, labeled_fraction=labeled_fraction, seed=seed
        )
        crop = tuple(int(c) for c in crop_size)
        if len(crop) != 3 or min(crop) < 1:
            raise MonaLabError(f"crop_size must be three positive integers (D, H, W), got {crop_size!r}")
        data.check_crop(crop)
        self.crop_size = crop

    def batch_at(self, step: int) -> TwoStreamBatch:
        """The batch of ``step``: labelled crops first, then unlabelled, each ``RandomRotFlip``
        then ``RandomCrop`` with draws from a generator seeded by ``(seed, step)``."""
        li, ui = self._labeled.at(step), self._unlabeled.at(step)
        gen = torch.Generator()
        gen.manual_seed(int(np.random.SeedSequence([self.seed, _STREAM_CROPS, int(step)]).generate_state(1)[0]))
        images, labels = [], []
        for row in li.tolist():
            image, label = rot_flip_3d(self.data.train_images[row], self.data.train_labels[row], gen)
            image, label = random_crop_3d(image, label, self.crop_size, gen)
            images.append(image)
            labels.append(label.long())
        unlabeled = []
        for row in ui.tolist():  # images only: the labels of unlabelled volumes are never read
            image, _ = rot_flip_3d(self.data.train_images[row], None, gen)
            unlabeled.append(random_crop_3d(image, None, self.crop_size, gen)[0])
        return TwoStreamBatch(
            torch.stack(images)[:, None],
            torch.stack(labels),
            torch.stack(unlabeled)[:, None] if unlabeled else torch.zeros((0, 1, *self.crop_size)),
            int(step),
            li,
            ui,
        )

    def state_dict(self) -> dict[str, Any]:
        """`TwoStreamBatches.state_dict` with the crop size."""
        return {**super().state_dict(), "crop_size": list(self.crop_size)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved state.

        Raises:
            MonaLabError: the state was saved with another crop size, or as `TwoStreamBatches`.
        """
        if list(state.get("crop_size", ())) != list(self.crop_size):
            raise MonaLabError(f"batch state does not match this stream: crop_size is {state.get('crop_size')!r}, expected {list(self.crop_size)!r}")
        super().load_state_dict(state)

    def __repr__(self) -> str:
        return (
            f"CropBatches({len(self.labeled_ids)} labelled / {len(self.unlabeled_ids)} unlabelled volumes, "
            f"crops {'x'.join(map(str, self.crop_size))} (D,H,W), batch {self.labeled_batch}+{self.unlabeled_batch}, step {self.step})"
        )
