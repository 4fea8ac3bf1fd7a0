"""mona_lab's data layer: the phantom, readers, preprocessing, splits, batches, statistics.

Typical use by a training recipe::

    from mona_lab.data import load_dataset, split_patients, TwoStreamBatches

    data = load_dataset("acdc", root=None, image_size=128, seed=0)   # or "phantom", "nifti"
    labeled, unlabeled = split_patients(data.patients, 0.05, seed=0)  # 5% of 70 -> 3 patients
    batches = TwoStreamBatches(data, labeled, batch_size=6, seed=0)  # 3 labelled + 3 unlabelled
    batch = next(batches).to(device)
    # batch.labeled_images [3, 1, S, S], batch.labeled_labels [3, S, S], batch.unlabeled_images [3, 1, S, S]
    state = batches.state_dict()            # save with the checkpoint; load_state_dict resumes
    for volume in data.val_volumes:         # 3D validation: Volume.image / .label [D, H, W]
        x = volume_slices(volume, data.image_size)               # [D, 1, S, S]

Public names (each defined in the sub-module in brackets):

- ``load_dataset(name, root=None, image_size=None, fast=None, seed=0, *, phantom=None,
  modality=None) -> SegmentationData`` [dataset]: ``name`` in ``DATASET_NAMES`` =
  ("phantom", "acdc", "nifti") [sources].
- ``SegmentationData`` [dataset]: ``name, class_names, num_classes, modality, image_size,
  train_images [N,1,S,S] float32, train_labels [N,S,S] int64, train_patient_ids,
  train_case_ids, patients, val_volumes, test_volumes, native_class_counts,
  slice_indices(patient_ids)``.
- ``open_source``, ``DataSource``, ``phantom_config_for`` [sources]: a data set's
  native-resolution volumes per split, before slicing.
- ``Volume`` [volume]: ``case_id, patient_id, image [D,H,W] float32, label [D,H,W] int64 |
  None, spacing (z,y,x) mm | None``.
- ``split_patients(patients, labeled, seed=0) -> (labeled_ids, unlabeled_ids)``,
  ``resolve_labeled_count(labeled, num_patients)``, ``parse_labeled(text)`` [splits].
- ``TwoStreamBatches(data, labeled_ids, unlabeled_ids=None, *, batch_size=6,
  labeled_fraction=0.5, seed=0, transform=None)`` yielding ``TwoStreamBatch`` [batches].
- ``volume_slices(volume, image_size)``, ``iter_volume_batches(volume, image_size,
  batch_size=None)`` [slicing]: a 3D volume's slices at the working size.
- ``PhantomConfig``, ``make_phantom(config)``, ``make_phantom_patient(config, i)``,
  ``phantom_split(n)``, ``PHANTOM_CLASS_NAMES`` [phantom, a package: anatomy, geometry,
  raster, intensity, build].
- Readers and writer: ``resolve_acdc_root``, ``iter_acdc_training_slices``,
  ``read_acdc_volumes`` [acdc]; ``read_nifti``, ``find_nifti_cases``, ``read_nifti_pair``,
  ``write_nifti``, ``write_acdc_nifti`` [nifti].
- Left Atrium (3D, UA-MT layout; h5 arrays stored (x, y, z), returned as [D, H, W] = (z, y, x))
  [la]: ``resolve_la_root``, ``read_la_ids(root, split)``, ``read_la_volume(path_or_root,
  case_id=None)``, ``read_la_volumes(root, split)``, ``read_la_nifti_volumes(root, split=None)``,
  ``la_case_path``, ``downsample_volume(volume, factor=2)``, ``LA_CLASS_NAMES``, ``LA_SPLITS``,
  ``LA_PATCH_SIZE`` = (80, 112, 112) and ``LA_STRIDE`` = (4, 18, 18) (the papers' 112x112x80
  crop and 18x18x4 stride, in [D, H, W] order).
- 3D data sets [volume_data]: ``load_volume_dataset(name, root=None, *, downsample=1,
  train=True) -> VolumeData`` (``name`` in ``VOLUME_DATASET_NAMES`` = ("la",)): training
  volumes as tensors at the working grid (downsampled), validation / test volumes at their
  native grid and at the working grid; ``VolumeData.patients``, ``slice_indices`` (volume
  rows), ``check_crop``, ``split``. Its batches: ``mona_lab.augment.CropBatches``.
- Preprocessing: ``minmax_normalize``, ``ct_window_normalize``, ``resize_images``,
  ``resize_labels``, ``resize_probabilities`` [preprocess].
- Statistics: ``class_pixel_counts``, ``class_fractions``, ``rank_frequency``,
  ``fit_zipf_exponent``, ``slice_presence``, ``expected_query_share``,
  ``compute_class_stats``, ``ClassStats`` [stats]; ``dataset_class_stats`` [dataset].

Each name is imported from the module that defines it (and only re-exported here).
"""
from __future__ import annotations

from mona_lab.data.acdc import (
    ACDC_CLASS_NAMES,
    iter_acdc_training_slices,
    read_acdc_volumes,
    resolve_acdc_root,
)
from mona_lab.data.batches import TwoStreamBatch, TwoStreamBatches
from mona_lab.data.dataset import (
    SegmentationData,
    dataset_class_stats,
    load_dataset,
    stack_training_slices,
)
from mona_lab.data.la import (
    LA_CLASS_NAMES,
    LA_PATCH_SIZE,
    LA_SPLITS,
    LA_STRIDE,
    downsample_volume,
    la_case_path,
    read_la_ids,
    read_la_nifti_volumes,
    read_la_volume,
    read_la_volumes,
    resolve_la_root,
)
from mona_lab.data.nifti import (
    find_nifti_cases,
    read_nifti,
    read_nifti_pair,
    write_acdc_nifti,
    write_nifti,
)
from mona_lab.data.phantom import (
    PHANTOM_CLASS_NAMES,
    PhantomConfig,
    make_phantom,
    make_phantom_patient,
    phantom_split,
)
from mona_lab.data.preprocess import (
    ct_window_normalize,
    minmax_normalize,
    resize_images,
    resize_labels,
    resize_probabilities,
)
from mona_lab.data.slicing import iter_volume_batches, volume_slices
from mona_lab.data.sources import DATASET_NAMES, DataSource, open_source, phantom_config_for
from mona_lab.data.splits import parse_labeled, resolve_labeled_count, split_patients
from mona_lab.data.stats import (
    ClassStats,
    class_fractions,
    class_pixel_counts,
    compute_class_stats,
    expected_query_share,
    fit_zipf_exponent,
    rank_frequency,
    slice_presence,
)
from mona_lab.data.volume import Volume
from mona_lab.data.volume_data import VOLUME_DATASET_NAMES, VolumeData, load_volume_dataset

__all__ = [
    "ACDC_CLASS_NAMES",
    "ClassStats",
    "DATASET_NAMES",
    "DataSource",
    "LA_CLASS_NAMES",
    "LA_PATCH_SIZE",
    "LA_SPLITS",
    "LA_STRIDE",
    "PHANTOM_CLASS_NAMES",
    "PhantomConfig",
    "SegmentationData",
    "TwoStreamBatch",
    "TwoStreamBatches",
    "VOLUME_DATASET_NAMES",
    "Volume",
    "VolumeData",
    "class_fractions",
    "class_pixel_counts",
    "compute_class_stats",
    "ct_window_normalize",
    "dataset_class_stats",
    "downsample_volume",
    "expected_query_share",
    "find_nifti_cases",
    "fit_zipf_exponent",
    "iter_acdc_training_slices",
    "iter_volume_batches",
    "la_case_path",
    "load_dataset",
    "load_volume_dataset",
    "make_phantom",
    "make_phantom_patient",
    "minmax_normalize",
    "open_source",
    "parse_labeled",
    "phantom_config_for",
    "phantom_split",
    "rank_frequency",
    "read_acdc_volumes",
    "read_la_ids",
    "read_la_nifti_volumes",
    "read_la_volume",
    "read_la_volumes",
    "read_nifti",
    "read_nifti_pair",
    "resize_images",
    "resize_labels",
    "resize_probabilities",
    "resolve_acdc_root",
    "resolve_la_root",
    "resolve_labeled_count",
    "slice_presence",
    "split_patients",
    "stack_training_slices",
    "volume_slices",
    "write_acdc_nifti",
    "write_nifti",
]
