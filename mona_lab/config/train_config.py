"""`TrainConfig`: everything that determines one training run, as a dataclass.

`TrainConfig` is what ``mona-lab train`` builds from its arguments, what ``config.json``
stores and what ``--resume`` compares against (`config_differences`). Optimisation defaults
follow the papers (MONA Sec. IV-B; reference notes "Optimisation defaults"): SGD lr 0.01, momentum
0.9, weight decay 1e-4, batch 6 (half labelled, half unlabelled), EMA 0.99, lr divided by
10 every 2500 iterations, 256 queries x 512 negatives, threshold 0.97, loss weights
lambda_1..4 = 0.01, 1, 1, 1.

Where the working recipe (the defaults) departs from the papers, the field's comment says
what the paper prints, what mona_lab does and the measured reason; the printed values are
`mona_lab.config.recipes.PAPER_RECIPE`.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mona_lab.config.recipes import MUTED_RECIPE, PAPER_RECIPE
from mona_lab.errors import MonaLabError
from mona_lab.schedules import TEMPERATURE_KINDS

METHOD_CHOICES = (
    "supervised",
    "mean-teacher",
    "glcon",
    "mona",
    "arco-ns",
    "arco-sg",
    "arco-sag",
    "action",
    "action++",
)
DATASET_CHOICES = ("phantom", "acdc", "nifti", "la")
# 3D data sets (a VNet on random crops, sliding-window evaluation; `mona_lab.data.volume_data`)
VOLUME_DATASETS = ("la",)
# Methods wired for 3D: the baselines learn from the crops themselves (RandomRotFlip +
# RandomCrop); the teacher-student recipes add a student view that is an exact axial rot90 /
# flip of the crop (`mona_lab.augment.views3d`: the papers' LA augmentations are rotation and
# flip), a local box scaled with the crop (`local_window_shape`) and their pixel contrasts and
# samplers on [B, m, d, h, w] maps. Every method is wired; a method added to METHOD_CHOICES is
# refused for 3D until it is added here.
VOLUME_METHODS = ("supervised", "mean-teacher", "glcon", "mona", "arco-ns", "arco-sg", "arco-sag", "action", "action++")
# The papers' LA setting (UA-MT; ACTION++ Sec. 3), in [D, H, W] order (`mona_lab.data.la`):
# 112x112x80 crops and a sliding window with stride 18x18x4, both written (x, y, z) there.
_LA_CROP, _LA_STRIDE = (80, 112, 112), (4, 18, 18)
_VOLUME_FIELDS = ("crop_size", "la_downsample", "window_stride", "val_window_stride")
# Methods with a pre-training stage (GLCon for MONA/ARCO, global + local distillation for ACTION).
PRETRAINING_METHODS = ("mona", "arco-ns", "arco-sg", "arco-sag", "action", "action++")
# Fields that may differ when a run is resumed: where it runs and how far it goes.
RESUMABLE_FIELDS = ("iterations", "device", "resume", "out", "root", "progress", "checkpoint_every", "checkpoint_minutes")


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None, required: bool = False) -> Any:
    """A `TrainConfig` field that ``mona-lab train`` offers as ``--NAME`` (``_`` -> ``-``).

    Its help, its choices and its default are written here once: `mona_lab.train_commands`
    builds the flag from this metadata, and `TrainConfig.__post_init__` checks the choices.
    ``required``: the command line must give it (the dataclass default serves Python callers);
    ``dataclasses.MISSING``: no default (Python callers must give it too).
    """
    return field(default=default, metadata={"help": help, "choices": choices, "required": required})


@dataclass
class TrainConfig:
    """Everything that determines a training run.

    ``iterations`` counts the main (fine-tuning) stage; methods with pre-training run
    ``pretrain_iterations`` more before it (``None``: half of ``iterations``; ACTION splits
    them equally between its global and local distillation stages).
    """

    method: str = option(dataclasses.MISSING, "the method to train", choices=METHOD_CHOICES, required=True)
    out: str = option(dataclasses.MISSING, "output folder (must be new unless --resume)", required=True)
    dataset: str = option("phantom", "the data set", choices=DATASET_CHOICES)
    root: str | None = option(None, "data folder (ACDC: else $MONA_LAB_ACDC, then data/ACDC)")
    # The built-in phantom's size: True = the fast phantom (12 patients at 64 px), False = the
    # full one (40 patients at 128 px). None (the default) is decided when the config is made,
    # from the lab size (MONA_LAB_SIZE=fast or MONA_LAB_FAST=1 -> True), and recorded in
    # config.json, so the data a run saw never depends on a variable the run does not record.
    # Unused (stays None) for the other data sets.
    phantom_fast: bool | None = None
    # Inter-patient variation of the built-in phantom (`PhantomConfig.heterogeneity`, issue 24):
    # 0 the phantom as before (its patients so alike that two labelled ones cover them), 1
    # about ACDC's across-patient spread of contrast, noise, heart size, shape and phase
    # (calibrated without training by benchmarks/phantom_heterogeneity.py). Phantom only.
    phantom_heterogeneity: float = option(0.0, "--dataset phantom: inter-patient variation (0 the old phantom, 1 about ACDC's spread, up to 2)")
    labeled: float = 3
    # 3D (--dataset la; `None` and unused in 2D). The papers (UA-MT, ACTION++ Sec. 3) train a
    # VNet on 112x112x80 crops (x, y, z) of the stored volumes after RandomRotFlip, batch 2
    # labelled + 2 unlabelled (here --batch-size 4), and score each validation volume with a
    # sliding window of stride 18x18x4. Resolved when the config is made and recorded in
    # config.json as "D,H,W" strings (crop 80,112,112 and stride 4,18,18 at la_downsample 1).
    # A CPU setting, measured (one thread, the 2 cores shared with a benchmark; 36 training and
    # 10 validation LA volumes; the volumes at downsample 2 are 44 x 66..79 x 74..116):
    # --la-downsample 2 --crop-size 32,64,64 --width 0.25 (VNet, 4 base filters, 0.59 M
    # parameters): 0.51 CPU s per supervised step of 4 crops (width 0.5: 1.20 s), a periodic
    # validation (stride 16,32,32) 5.4 s, the final one (2,10,10) 26 s (width 0.5: 9.5 / 47 s),
    # loading 8 s. Seed 0, 4 labelled, lr 0.05 poly: supervised 2200 iterations, 24.1 CPU-min,
    # Dice 0.728 +- 0.126 on the native grid (ASD 5.6 voxels); mean teacher (2 + 2 crops)
    # 1500 iterations, 21.5 CPU-min, Dice 0.790 +- 0.049 (ASD 4.4). One seed each, unequal
    # iterations: a check that the setting learns the atrium, not a comparison.
    crop_size: str | None = option(
        None, "--dataset la: training crop D,H,W, multiples of 16 (default: the papers' 80,112,112 divided by "
        "--la-downsample, rounded down to multiples of 16)",
    )  # fmt: skip
    la_downsample: int | None = option(None, "--dataset la: shrink every volume by this integer factor per axis (default 1, the papers'; 2: the CPU setting)")
    # Sliding-window stride of the final scores (metrics.json, the last log.csv row) and of
    # `mona-lab evaluate`: the papers' overlap, 4,18,18 scaled with the crop (`scaled_stride`).
    window_stride: str | None = option(None, "--dataset la: sliding-window stride D,H,W of the final scores and evaluate (default: the papers' 4,18,18 scaled with the crop)")
    # Stride of the periodic validation (best.pt, log.csv's val_mean_dice before the last
    # step): half the crop per axis by default, for an affordable CPU validation (crop
    # 32,64,64 at downsample 2: 8 windows per volume instead of about 56 at the papers' overlap).
    val_window_stride: str | None = option(None, "--dataset la: sliding-window stride D,H,W of the periodic validation (default: half the crop)")
    iterations: int = option(1000, "main (fine-tuning) iterations", required=True)
    pretrain_iterations: int | None = option(None, "pre-training iterations (default: half of --iterations)")
    image_size: int = option(128, "working size of the slices")
    batch_size: int = option(6, "slices per step, half labelled")
    seed: int = option(0, "the one seed of the run (data split, initialisation, batches, augmentation)")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    resume: bool = option(False, "continue the run in --out exactly where it stopped")
    progress: bool = True
    # optimisation
    lr: float = option(0.01, "learning rate")
    # Optimiser. Papers: "sgd" (momentum 0.9, weight decay 1e-4). "adamw" (betas 0.9/0.999,
    # the same decoupled weight decay) is offered for CPU-budget studies; see the README recipe table.
    optimizer: str = option("sgd", "sgd (the papers) or adamw", choices=("sgd", "adamw"))
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_schedule: str = option("step", "step: /10 every --lr-step-every iterations; poly: (1 - t/T)^0.9", choices=("step", "poly"))
    lr_step_every: int = option(2500, "step schedule: divide the lr by 10 every N iterations of a stage")
    ema_momentum: float = option(0.99, "EMA teacher momentum")
    # EMA warm-up of the public code: momentum min(1 - 1/(t+1), ema_momentum) at update t, so the
    # teacher is not a copy of the random initialisation for the first ~100 steps. The papers
    # print only "EMA decay 0.99" (False = as printed); see EMATeacher.warmup_momentum
    ema_warmup: bool = True
    amp: bool = True  # bf16 autocast on CUDA where supported; ignored on CPU
    # model
    width: float = option(1.0, "network width multiplier (UNet 1.0: 16..256 channels; VNet: 16 * width base filters)")
    embed_dim: int = option(512, "embedding size (512 MONA, 128 ACTION++)")
    representation_stride: int = 4  # the representation head fuses at 1/4 resolution (cost)
    # Hidden width of the representation head's 3x3 conv as a fraction of embed_dim. Paper
    # (MONA Fig. 6): the 3x3 conv maps the 496 fused channels to m = 512 (ratio 1). Working:
    # 0.25 (128 at m = 512, 8 at the CPU benchmark's 32): the same 3x3 conv - BN - ReLU - 1x1
    # conv structure, a quarter of the hidden width. At the papers' sizes (128 px, batch 6,
    # width 1) the full-width 3x3 conv is 14.0 GMAC per forward, 3x the whole UNet; a MONA
    # step cost 5.1x a supervised one in process CPU time, 3.3x with ratio 0.25 and also 3.3x
    # with 64 hidden channels (benchmarks/bench_methods.py): below 128 the head no longer
    # dominates, the student's second forward for L_eqv and the teacher's forward do.
    representation_hidden_ratio: float = option(0.25, "hidden width of the representation head's 3x3 conv as a fraction of --embed-dim (paper 1)")
    # UNet dropout: "element" (SSL4MIS, which the papers build on; default) or "channel"
    # (nn.Dropout2d, mona_lab before issue 10: drops half the bottleneck maps at width 0.25).
    dropout_kind: str = option("element", "UNet dropout", choices=("element", "channel"))
    # Gradient that the auxiliary heads (global/local projection, representation) send into
    # the UNet, times this factor (`mona_lab.models.gradient_scale`). Paper: 1 (no scaling).
    # Working: 0.3, chosen by benchmarks/acdc_tuning.py on tuning seeds 10-12 (never the
    # reported 0-4; ACDC, 3 labelled, 128 px, width 0.25, lr 0.05, 150 GLCon + 2350 steps).
    # The rule, fixed before the last seed finished: the best mean Dice among scales where
    # every MONA term's median gradient share at the bottleneck over fine-tuning is >= 0.01
    # in every tuning run. Measured: 0.1 -> Dice 0.557 / 0.627 / 0.372 (mean 0.519), L_nn's
    # share 0.013 / 0.014 / 0.005 (muted on seed 12); 0.3 -> 0.551 / 0.539 / 0.507 (mean
    # 0.532), L_contrast 0.062-0.091, L_nn 0.022-0.040. With 1 (the paper) L_contrast's
    # gradient started at 75x L_sup's and Dice was 0 at step 500 (seed 0, issue 22);
    # with 0.01 (`--recipe muted`, the default before issue 22) L_contrast, L_nn and SAACL
    # reach the encoder at 0.001-0.003 of L_sup's gradient: switched off in all but name.
    head_grad_scale: float = option(0.3, "factor on the gradient the auxiliary heads send into the UNet (paper 1; muted recipe 0.01)")
    # Images the student's BatchNorm running statistics (what evaluation normalises with) are
    # estimated from. Paper: not stated; their code puts every view through one training-mode
    # network ("all"). Working: "labeled" = only the labelled rows of the student's view (the
    # weak view, the images the supervised baseline sees); strongly augmented, CutMixed and
    # L_eqv-transformed rows run in a second forward with the running statistics frozen.
    # Measured: a MONA run (ACDC, seed 0) scored 0.228 Dice with "all"; the same weights with
    # statistics re-estimated on clean slices scored 0.411 (mona_lab.models.batch_statistics).
    bn_statistics: str = option(
        "labeled", "images the student's BatchNorm running statistics come from: labelled rows only or every view (paper code)",
        choices=("labeled", "all"),
    )
    # Side of the local instance-discrimination window (MONA: 64x64). 3D (LA): no paper gives a
    # 3D window, so the box keeps the window's share of each side of the crop,
    # crop * local_region / image_size per axis (`local_window_shape`; 64 / 128 at the
    # defaults: half of every side, 16x24x24 of the 32x48x48 CPU crop).
    local_region: int = 64
    # MONA principles (the ablation switches of MONA Tables III and VI)
    tailness: bool = True
    consistency: bool = True
    diversity: bool = True
    # pixel contrast
    sampler: str = field(default="ns", metadata={"choices": ("ns", "sg", "sag", "block")})  # arco-* set it
    grid: int = 4
    num_queries: int = option(256, "queries of the pixel contrast per step")
    num_negatives: int = option(512, "negative keys per query")
    confidence_threshold: float = option(0.97, "hard-query confidence delta")
    # Student's view of the labelled rows. Paper: strong (True). Working: weak (False), the
    # view the supervised baseline learns from (FixMatch / ReCo convention); L_sup on strongly
    # augmented slices slowed learning (diagnosis: plain-strong 0.049 vs plain-weak 0.227 Dice).
    strong_labeled: bool = False
    # L_unsup. Paper (reference notes): "share" = CE on every pixel times the confident share.
    # Working: "dice_ce" = the same Dice + CE mix as L_sup on the confident pixels, its Dice
    # over the classes some confident pixel holds. "share" labels every unsure foreground pixel
    # as background early on (phantom grid: 18.2 % vs 27.5 % Dice). "mask" (CE on confident
    # pixels only) is class-blind: about 99 % of confident pixels are background, so the
    # foreground signal is ~0.5 % of the term and the unlabelled patients taught nothing
    # (ACDC core, principles off, seed 0: 0.524 vs supervised 0.533). Measured with
    # "dice_ce" (same core, 3 seeds): 0.506 / 0.584 / 0.395 against supervised 0.533 / 0.525
    # / 0.280. (A Dice over all C classes, mona_lab before, collapsed a run to 0: see
    # PseudoLabelLoss.)
    unsup_weighting: str = option(
        "dice_ce", "L_unsup: Dice+CE on confident pixels (dice_ce), CE on confident pixels (mask) or CE on all pixels times the confident share (share, paper)",
        choices=("mask", "share", "dice_ce"),
    )
    # Confidence a teacher pseudo-label needs to enter L_unsup. Paper: 0.97 (the same delta
    # as the hard-query threshold, ``confidence_threshold``, which keeps 0.97). Working: 0.9
    # (FixMatch / UniMatch use 0.95): a small network at a CPU budget is rarely 0.97-sure of
    # a foreground pixel, so L_unsup taught almost nothing (0.001-0.01 over a whole run).
    pseudo_label_threshold: float = option(0.9, "confidence a pseudo-label needs to enter L_unsup (paper 0.97)")
    contrast_temperature: float = option(0.5, "tau of the pixel contrast under the fixed schedule")
    temperature_schedule: str | None = option(
        None, "the contrastive temperature's schedule (default: cosine, ATS, for action++, else fixed)", choices=TEMPERATURE_KINDS
    )
    tau_min: float = option(0.1, "smallest tau of a varying schedule (ACTION++ Eq. 6)")
    tau_max: float = option(1.0, "largest tau of a varying schedule")
    temperature_period: float = option(1.0, "a periodic schedule repeats every this fraction of the stage (ACTION++ Table 6's T / #iterations)")
    # L_nn on the unlabelled rows only (MONA Sec. III-B: "given a batch of unlabeled images");
    # False: every row of the batch, as mona_lab did before (see the issue-10 diagnosis)
    nn_unlabeled_only: bool = option(False, "L_nn on unlabelled rows only")
    # T in L_eqv (Eq. 6) also changes contrast/brightness of F(T(x))'s input (Eq. 6 names
    # intensity changes; they do not move pixels, so T(F(x)) only needs the spatial part).
    # Refused in 3D, whose T is an axial rot90 / flip (the papers' LA augmentations).
    eqv_intensity: bool = option(False, "T in L_eqv also changes intensity")
    # Share of the labelled rows and of the unlabelled rows that L_eqv (Eq. 6) is computed on.
    # Paper: every row ("on both labeled and unlabeled data", Sec. III-B), 1.0. Working: 0.5,
    # the first half of each: the same expectation over images and transformations, estimated
    # from half the images (rounded down, at least one row of each group: 1 + 1 of the
    # papers' 3 + 3). The second student forward and its backward for
    # F(T(x)) cost more than a whole supervised step; with 1.0 a MONA fine-tuning step costs
    # 3.8x a supervised one at the papers' sizes, with 0.5 under 3x (the issue's target;
    # benchmarks/bench_methods.py).
    eqv_fraction: float = option(0.5, "share of the labelled and of the unlabelled rows L_eqv is computed on (paper 1)")
    # instance discrimination and diversity
    queue_size: int = 36
    num_neighbours: int = 5
    student_temperature: float = 0.1
    teacher_temperature: float = 0.01
    # loss weights: L_sup + l1 L_contrast + l2 L_eqv + l3 L_unsup + l4 L_nn (MONA Sec. III-B)
    lambda_contrast: float = option(0.01, "lambda_1, weight of L_contrast / L_anco / SAACL")
    lambda_eqv: float = option(1.0, "lambda_2, weight of L_eqv")
    lambda_unsup: float = option(1.0, "lambda_3, weight of L_unsup")
    lambda_nn: float = option(1.0, "lambda_4, weight of L_nn")
    lambda_centers: float = 0.2  # ACTION++ lambda_a
    # sigmoid ramp-up of every weight but L_sup (MONA lambda_1..4; ACTION L_unsup, L_anco, SAACL)
    # over this fraction of the fine-tuning stage; 0 = constant weights as printed
    unsup_rampup: float = option(0.0, "sigmoid ramp-up of the auxiliary loss weights over this fraction of fine-tuning (0: none)")
    # bookkeeping
    validate_every: int = option(500, "validate (and keep best.pt) every N iterations")
    checkpoint_every: int = option(500, "write last.pt every N iterations")
    # also write last.pt whenever this many minutes of wall time have passed since the last
    # one (0: off), so an interrupted run loses at most this much; Ctrl-C writes one too
    checkpoint_minutes: float = option(2.0, "also write last.pt after this many minutes of wall time (0 off); Ctrl-C writes one too")
    # training dynamics (dynamics.csv): weight norms of named layers and each loss term's
    # gradient norm there, every this many iterations (0: off)
    dynamics_every: int = option(100, "write weight and per-term gradient norms to dynamics.csv every N iterations (0 off)")
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # every field with choices (written once, beside the field)
            choices, value = f.metadata.get("choices"), getattr(self, f.name)
            if choices is not None and value is not None and value not in choices:
                raise MonaLabError(f"unknown {f.name.replace('_', ' ')} {value!r}; choose one of {', '.join(choices)}")
        if self.dataset == "phantom" and self.phantom_fast is None:
            from mona_lab.runtime import is_fast_mode

            self.phantom_fast = is_fast_mode()
        elif self.dataset != "phantom" and self.phantom_fast is not None:
            raise MonaLabError(f"phantom_fast={self.phantom_fast!r} applies to --dataset phantom only, not {self.dataset!r}")
        if not (isinstance(self.phantom_heterogeneity, (int, float)) and 0.0 <= self.phantom_heterogeneity <= 2.0):
            raise MonaLabError(f"--phantom-heterogeneity must lie in [0, 2], got {self.phantom_heterogeneity!r}")
        if self.dataset != "phantom" and self.phantom_heterogeneity:
            raise MonaLabError(f"--phantom-heterogeneity applies to --dataset phantom only, not {self.dataset!r}")
        self._resolve_volume_fields()
        for name in ("iterations", "image_size", "batch_size", "validate_every", "checkpoint_every", "lr_step_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise MonaLabError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if not (isinstance(self.checkpoint_minutes, (int, float)) and 0.0 <= self.checkpoint_minutes < float("inf")):
            raise MonaLabError(f"--checkpoint-minutes must be a number >= 0 (0: off), got {self.checkpoint_minutes!r}")
        if self.pretrain_iterations is not None and self.pretrain_iterations < 0:
            raise MonaLabError(f"--pretrain-iterations must be >= 0, got {self.pretrain_iterations}")
        if self.batch_size < 2:
            raise MonaLabError(f"--batch-size must be at least 2 (a labelled and an unlabelled half), got {self.batch_size}")
        if self.image_size % 16:
            raise MonaLabError(f"--image-size must be a multiple of 16 (the UNet down-samples 4 times), got {self.image_size}")
        if self.labeled <= 0:
            raise MonaLabError(f"--labeled must be a patient count >= 1 or a ratio in (0, 1), got {self.labeled}")
        if self.representation_stride < 1 or self.local_region < 1:
            raise MonaLabError("representation_stride and local_region must be positive integers")
        if not 0.0 <= self.unsup_rampup <= 1.0:
            raise MonaLabError(f"--unsup-rampup must be a fraction of the fine-tuning stage in [0, 1], got {self.unsup_rampup}")
        if not (isinstance(self.head_grad_scale, (int, float)) and 0.0 <= self.head_grad_scale < float("inf")):
            raise MonaLabError(f"--head-grad-scale must be a finite number >= 0, got {self.head_grad_scale!r}")
        if not (isinstance(self.eqv_fraction, (int, float)) and 0.0 < self.eqv_fraction <= 1.0):
            raise MonaLabError(f"--eqv-fraction must lie in (0, 1], got {self.eqv_fraction!r}")
        if not 0.0 <= self.pseudo_label_threshold <= 1.0:
            raise MonaLabError(f"--pseudo-label-threshold must lie in [0, 1], got {self.pseudo_label_threshold}")
        if not (isinstance(self.representation_hidden_ratio, (int, float)) and 0.0 < self.representation_hidden_ratio <= 16):
            raise MonaLabError(f"representation_hidden_ratio must lie in (0, 16], got {self.representation_hidden_ratio!r}")
        if not isinstance(self.dynamics_every, int) or self.dynamics_every < 0:
            raise MonaLabError(f"--dynamics-every must be an integer >= 0 (0: off), got {self.dynamics_every!r}")

    def _resolve_volume_fields(self) -> None:
        """3D data sets: check the method, fill in and check crop, downsampling and strides
        (written back as canonical ``"D,H,W"`` strings); 2D: refuse any of them."""
        if self.dataset not in VOLUME_DATASETS:
            given = [f"--{n.replace('_', '-')}" for n in _VOLUME_FIELDS if getattr(self, n) is not None]
            if given:
                raise MonaLabError(f"{', '.join(given)} apply to 3D data sets ({', '.join(VOLUME_DATASETS)}) only, not --dataset {self.dataset}")
            return
        if self.eqv_intensity:
            raise MonaLabError(f"--eqv-intensity is 2D only: in 3D (--dataset {self.dataset}) L_eqv's T is an axial rot90 / flip")
        if self.method not in VOLUME_METHODS:
            raise MonaLabError(
                f"--method {self.method} is not wired for 3D data (--dataset {self.dataset}) yet (3D views, local windows "
                f"and pixel samplers); 3D methods: {', '.join(VOLUME_METHODS)}"
            )
        factor = 1 if self.la_downsample is None else self.la_downsample
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise MonaLabError(f"--la-downsample must be a positive integer, got {self.la_downsample!r}")
        self.la_downsample = factor
        if self.crop_size is None:
            crop = tuple(max(16, (c // factor) // 16 * 16) for c in _LA_CROP)
        else:
            crop = parse_triple(self.crop_size, "--crop-size")
        if any(c % 16 for c in crop):
            raise MonaLabError(f"--crop-size {','.join(map(str, crop))}: every side must be a multiple of 16 (the VNet down-samples 4 times)")
        self.crop_size = ",".join(map(str, crop))
        from mona_lab.metrics.sliding_window import scaled_stride

        defaults = {"window_stride": scaled_stride(crop, _LA_CROP, _LA_STRIDE), "val_window_stride": tuple(max(1, c // 2) for c in crop)}
        for name, default in defaults.items():
            flag = f"--{name.replace('_', '-')}"
            stride = default if getattr(self, name) is None else parse_triple(getattr(self, name), flag)
            if any(s > c for s, c in zip(stride, crop)):
                raise MonaLabError(f"{flag} {','.join(map(str, stride))} must not exceed the crop {self.crop_size} on any axis (voxels would be skipped)")
            setattr(self, name, ",".join(map(str, stride)))

    @property
    def spatial_dims(self) -> int:
        """3 for the 3D data sets (`VOLUME_DATASETS`: a VNet on crops), else 2 (a UNet on slices)."""
        return 3 if self.dataset in VOLUME_DATASETS else 2

    @property
    def crop_shape(self) -> tuple[int, int, int]:
        """``crop_size`` as ``(D, H, W)`` (3D data sets only)."""
        return parse_triple(self.crop_size, "--crop-size")

    @property
    def local_window_shape(self) -> tuple[int, int, int]:
        """3D local instance-discrimination box ``(D, H, W)``: ``crop * local_region /
        image_size`` per axis, rounded, between 1 and the crop (see ``local_region``)."""
        share = self.local_region / self.image_size
        return tuple(min(c, max(1, round(c * share))) for c in self.crop_shape)  # type: ignore[return-value]

    @property
    def window_stride_shape(self) -> tuple[int, int, int]:
        """``window_stride`` as ``(D, H, W)`` (3D data sets only)."""
        return parse_triple(self.window_stride, "--window-stride")

    @property
    def val_window_stride_shape(self) -> tuple[int, int, int]:
        """``val_window_stride`` as ``(D, H, W)`` (3D data sets only)."""
        return parse_triple(self.val_window_stride, "--val-window-stride")

    @property
    def representation_hidden(self) -> int:
        """Hidden width of the representation head: ``embed_dim * representation_hidden_ratio``, at least 1."""
        return max(1, round(self.embed_dim * self.representation_hidden_ratio))

    @property
    def recipe(self) -> str:
        """The named recipe (`RECIPES`) whose fields this config holds: ``"working"`` when every
        `PAPER_RECIPE` field holds mona_lab's default, ``"paper"`` when every one holds the printed
        value, ``"muted"`` when they hold the defaults but for `MUTED_RECIPE`, else ``"custom"``."""
        values = {name: getattr(self, name) for name in PAPER_RECIPE}
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in PAPER_RECIPE}
        for name, fields in (("working", {}), ("paper", PAPER_RECIPE), ("muted", MUTED_RECIPE)):
            if values == {**defaults, **fields}:
                return name
        return "custom"

    @property
    def resolved_pretrain_iterations(self) -> int:
        """Pre-training iterations actually run (0 for methods without pre-training)."""
        if self.method not in PRETRAINING_METHODS and self.method != "glcon":
            return 0
        if self.method == "glcon":  # GLCon alone is its own main stage
            return 0
        if self.pretrain_iterations is None:
            return self.iterations // 2
        return self.pretrain_iterations

    @property
    def resolved_sampler(self) -> str:
        """The pixel sampler: fixed by the method name for arco-*, else ``sampler``."""
        if self.method.startswith("arco-"):
            return self.method.split("-", 1)[1]
        return self.sampler

    @property
    def resolved_temperature_schedule(self) -> str:
        if self.temperature_schedule is not None:
            return self.temperature_schedule
        return "cosine" if self.method == "action++" else "fixed"

    @property
    def total_iterations(self) -> int:
        return self.resolved_pretrain_iterations + self.iterations

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MonaLabError(f"config has unknown fields {unknown}")
        return cls(**data)

    def save(self, path: Path) -> None:
        from mona_lab.atomic_files import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as err:
            raise MonaLabError(f"config file {path} does not exist") from err
        except json.JSONDecodeError as err:
            raise MonaLabError(f"config file {path} is not valid JSON: {err}") from err
        return cls.from_dict(data)


def parse_triple(value: Any, flag: str) -> tuple[int, int, int]:
    """``"32,64,64"``, ``"32x64x64"``, ``"64"`` (all three) or a sequence of three ints -> ``(D, H, W)``.

    Raises:
        MonaLabError: naming ``flag``, for anything but one or three positive integers.
    """
    if isinstance(value, str):
        parts = [p for p in value.replace("x", ",").replace(" ", ",").split(",") if p]
    elif isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        parts = [value]
    try:
        numbers = [int(p) if not isinstance(p, float) or float(p).is_integer() else None for p in parts]
    except (TypeError, ValueError):
        numbers = [None]
    if len(numbers) == 1:
        numbers = numbers * 3
    if len(numbers) != 3 or any(n is None or isinstance(n, bool) or n < 1 for n in numbers):
        raise MonaLabError(f"{flag} must be D,H,W (three positive integers, e.g. 32,64,64) or one of them, got {value!r}")
    return tuple(numbers)  # type: ignore[return-value]


def config_differences(saved: TrainConfig, requested: TrainConfig) -> list[str]:
    """Fields (other than `RESUMABLE_FIELDS`) whose values differ, as ``name: saved -> requested``."""
    a, b = saved.to_dict(), requested.to_dict()
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in sorted(a) if k not in RESUMABLE_FIELDS and a[k] != b[k]]
