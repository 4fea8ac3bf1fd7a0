"""3D training augmentation of the LA literature (mona_lab.augment.crops3d): crops and rot/flip."""
from __future__ import annotations

import pytest
import torch

from mona_lab.augment.crops3d import pad_to_size_3d, random_crop_3d, rot_flip_3d

pytestmark = pytest.mark.usefixtures("single_thread")


def _volume(shape=(6, 7, 9)) -> tuple[torch.Tensor, torch.Tensor]:
    """An image whose value is its flat index (1-based, so padding's 0 is recognisable) and
    a label derived from it, so a crop that misaligns them shows."""
    image = torch.arange(1, 1 + torch.Size(shape).numel(), dtype=torch.float32).reshape(shape)
    return image, (image.long() % 3)


def _start_of(crop: torch.Tensor, shape) -> tuple[int, int, int]:
    flat = int(crop[0, 0, 0].item()) - 1
    d, rest = divmod(flat, shape[1] * shape[2])
    return (d, *divmod(rest, shape[2]))


def test_crop_is_a_window_of_the_volume_with_its_label_aligned() -> None:
    image, label = _volume()
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        crop, crop_label = random_crop_3d(image, label, (4, 5, 6), g)
        assert crop.shape == (4, 5, 6) and crop_label.shape == (4, 5, 6)
        a, b, c = _start_of(crop, image.shape)
        assert torch.equal(crop, image[a:a + 4, b:b + 5, c:c + 6])
        assert torch.equal(crop_label, crop.long() % 3)


def test_every_start_including_the_last_is_drawn() -> None:
    image, label = _volume()
    g = torch.Generator().manual_seed(1)
    starts = [_start_of(random_crop_3d(image, None, (4, 5, 6), g)[0], image.shape) for _ in range(300)]
    for axis, slack in enumerate((2, 2, 3)):
        seen = sorted({s[axis] for s in starts})
        assert seen == list(range(slack + 1)), (axis, seen)  # UA-MT's randint(0, n - s) misses the last


def test_same_generator_state_gives_the_same_crop_and_rotation() -> None:
    image, label = _volume()
    first = [random_crop_3d(image, label, 4, torch.Generator().manual_seed(7)),
             rot_flip_3d(image, label, torch.Generator().manual_seed(7))]
    again = [random_crop_3d(image, label, 4, torch.Generator().manual_seed(7)),
             rot_flip_3d(image, label, torch.Generator().manual_seed(7))]
    for (x1, y1), (x2, y2) in zip(first, again):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    g = torch.Generator().manual_seed(7)
    crops = {tuple(random_crop_3d(image, None, 4, g)[0].flatten()[:3].tolist()) for _ in range(10)}
    assert len(crops) > 1  # the generator advances


def test_a_short_axis_is_zero_padded_symmetrically_and_long_axes_untouched() -> None:
    image, label = _volume((3, 7, 9))
    g = torch.Generator().manual_seed(2)
    for _ in range(10):
        crop, crop_label = random_crop_3d(image, label + 1, (8, 7, 5), g)  # label + 1: padding shows as 0
        assert crop.shape == (8, 7, 5)
        # D: 3 -> 8, 2 zero slices before and 3 after; H fits exactly; W is cropped, not padded
        assert (crop[:2] == 0).all() and (crop[5:] == 0).all() and (crop[2:5] > 0).all()
        assert (crop_label[:2] == 0).all() and (crop_label[5:] == 0).all() and (crop_label[2:5] > 0).all()
        assert torch.equal(crop[2:5], image[:, :, _start_of(crop[2:5], image.shape)[2]:][:, :, :5])
    padded, none = pad_to_size_3d(image, None, (3, 7, 9))
    assert padded is image and none is None


def test_channel_first_images_are_cropped_with_their_label() -> None:
    image, label = _volume()
    stacked = torch.stack([image, -image])
    crop, crop_label = random_crop_3d(stacked, label, (4, 5, 6), torch.Generator().manual_seed(3))
    assert crop.shape == (2, 4, 5, 6)
    assert torch.equal(crop[1], -crop[0]) and torch.equal(crop_label, crop[0].long() % 3)


def _reflections(x: torch.Tensor) -> list[torch.Tensor]:
    """The 4 reflections of the (H, W) plane: flip W, flip H, transpose, anti-transpose."""
    t = x.transpose(-2, -1)
    return [x.flip(-1), x.flip(-2), t, t.flip(-1).flip(-2)]


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 4, 4)])
def test_rot_flip_gives_each_of_the_4_plane_reflections_a_quarter_of_the_time(shape) -> None:
    # rot90 by k then a flip (UA-MT's RandomRotFlip always flips) is always a reflection of the
    # axial plane: 8 (k, axis) draws, 4 results, each twice; pure rotations never occur.
    image, label = _volume(shape)
    candidates = _reflections(image)
    g = torch.Generator().manual_seed(4)
    counts = [0, 0, 0, 0]
    for _ in range(400):
        out, out_label = rot_flip_3d(image, label, g)
        matches = [i for i, c in enumerate(candidates) if c.shape == out.shape and torch.equal(c, out)]
        assert len(matches) == 1
        counts[matches[0]] += 1
        assert torch.equal(out_label, out.long() % 3)  # the label moved with the image
        for z in range(shape[0]):  # the slice axis is never flipped or mixed: slice z keeps its voxels
            assert torch.equal(out[z].flatten().sort().values, image[z].flatten().sort().values)
    assert all(70 <= c <= 130 for c in counts), counts  # 100 expected each; sd ~8.7


def test_bad_inputs_are_refused_with_the_shapes() -> None:
    image, label = _volume()
    with pytest.raises(ValueError, match=r"label must be a tensor \[D, H, W\] = \(6, 7, 9\).*\(6, 7, 8\)"):
        random_crop_3d(image, label[..., :8], 4)
    with pytest.raises(ValueError, match=r"image must be a tensor \[D, H, W\] or \[C, D, H, W\], got \(7, 9\)"):
        rot_flip_3d(image[0], None)
    for bad in (0, (4, 4), 2.5, (4, 4, True)):
        with pytest.raises(ValueError, match="size must be"):
            random_crop_3d(image, label, bad)
