"""ACTION++ class centres: K uniformly spread points on the unit sphere and their allocation.

ACTION++ (You et al., MICCAI 2023, Sec. 2.2) computes, off-line and without any data, K
class centres psi_1..psi_K on the sphere S^{d-1} that minimise the uniformity loss (Eq. 3)::

    L_unif = sum_c log sum_c' exp(psi_c . psi_c' / tau)

and then, during training, matches the (moving-average) class means to the centres one to
one by the assignment of minimum total distance (Eq. 4). `uniform_class_centers` does the
first step, `allocate_class_centers` the second.

Which solver: for K <= d + 1 every minimiser of Eq. 3 is a regular K-vertex simplex
inscribed in the sphere (ACTION++ Sec. 2.2, citing Graf et al. 2021): all pairwise dot
products equal -1/(K-1). ``method="auto"`` (the default) therefore builds that simplex in
closed form (exact, milliseconds) and turns it by a random rotation drawn from ``seed``;
only for K > d + 1, where no closed form exists, it runs the paper's gradient descent on
the sphere. ``method="gd"`` forces gradient descent in every case (the tests check it lands
on the simplex to 1e-3 when K <= d + 1).

Gradient descent: Eq. 3 at tau = 0.07 is dominated by the constant self terms
exp(1/tau), so its gradients shrink like exp(-(1 - dot)/tau) and Adam (the public code's
choice) stalls far from the optimum (its running second moment remembers the early,
larger gradients). mona_lab takes projected gradient steps of normalised length instead
(the tangent gradient divided by its largest row norm, step size on a cosine schedule
from 0.2 to 1e-5 radians), in float64, evaluates the loss in the shifted form
sum_c log(1 + sum_{c' != c} exp((psi_c . psi_c' - 1)/tau)) + K/tau so that tiny
improvements are still visible, and keeps the best iterate (as the public code does).

Caching: gradient-descent results are cached on disk as
``<cache_dir>/centers_K{K}_d{d}_gd_seed{seed}_steps{steps}_tau{tau}.pt`` (written
atomically: temporary name, then ``os.replace``) and in memory; the cache folder is
``cache_dir`` if given, else ``$MONA_LAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/mona_lab``,
else ``~/.cache/mona_lab``. Closed-form simplices are only memoised in memory (recomputing
them costs less than reading a file). A cache hit returns a tensor equal to the first
result, bit for bit.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from mona_lab.atomic_files import atomic_torch_save

CACHE_ENV_VAR = "MONA_LAB_CACHE_DIR"
CENTER_METHODS = ("auto", "simplex", "gd")

_MEMORY_CACHE: dict[tuple, torch.Tensor] = {}


def default_cache_dir() -> Path:
    """The folder for cached centres: ``$MONA_LAB_CACHE_DIR``, else the XDG cache folder."""
    raw = os.environ.get(CACHE_ENV_VAR, "").strip()
    if raw:
        return Path(raw).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mona_lab"


def uniformity_loss(centers: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """ACTION++ Eq. 3: sum_c log sum_c' exp(psi_c . psi_c' / tau) (self terms included).

    Args:
        centers: [K, d] points, expected on the unit sphere.
        tau: temperature of Eq. 3 (0.07 in the public code).

    Returns:
        scalar tensor.
    """
    if centers.ndim != 2:
        raise ValueError(f"centers must be [K, d], got shape {tuple(centers.shape)}")
    return torch.logsumexp(centers @ centers.T / tau, dim=1).sum()


def _shifted_uniformity(points: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 3 minus the constant K / tau (unit-norm rows), accurate when every term is tiny."""
    count = points.shape[0]
    scaled = (points @ points.T - 1.0) / tau
    off_diagonal = scaled.masked_fill(torch.eye(count, dtype=torch.bool, device=points.device), float("-inf"))
    return torch.log1p(torch.exp(off_diagonal).sum(dim=1)).sum()


def _random_rotation(dim: int, generator: torch.Generator) -> torch.Tensor:
    """A random orthogonal [dim, dim] matrix (QR of a Gaussian matrix, sign-fixed), float64."""
    gaussian = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return q * signs


def _simplex_centers(num_classes: int, dim: int, seed: int) -> torch.Tensor:
    """Regular simplex with K = num_classes vertices on S^{dim-1}, randomly rotated (float64)."""
    generator = torch.Generator().manual_seed(seed)
    if num_classes == 1:
        point = torch.randn(1, dim, generator=generator, dtype=torch.float64)
        return point / point.norm(dim=1, keepdim=True)
    # Vertices e_i - 1/K (centred standard basis) span the (K-1)-dim subspace orthogonal to 1;
    # express them in an orthonormal basis of that subspace, pad to dim, rotate at random.
    centred = torch.eye(num_classes, dtype=torch.float64) - 1.0 / num_classes
    basis = torch.linalg.svd(centred).Vh[: num_classes - 1]  # [K-1, K], rows span 1^perp
    coords = centred @ basis.T  # [K, K-1]
    coords = coords / coords.norm(dim=1, keepdim=True)
    padded = torch.zeros(num_classes, dim, dtype=torch.float64)
    padded[:, : num_classes - 1] = coords
    return padded @ _random_rotation(dim, generator)


def _gradient_descent_centers(num_classes: int, dim: int, steps: int, tau: float, seed: int) -> torch.Tensor:
    """Projected, normalised gradient descent on the sphere for Eq. 3; returns the best iterate."""
    generator = torch.Generator().manual_seed(seed)
    points = torch.randn(num_classes, dim, generator=generator, dtype=torch.float64)
    points = points / points.norm(dim=1, keepdim=True)
    if num_classes == 1:
        return points
    best, best_loss = points.clone(), _shifted_uniformity(points, tau).item()
    step_max, step_min = 0.2, 1e-5
    for step in range(steps):
        points.requires_grad_(True)
        (grad,) = torch.autograd.grad(_shifted_uniformity(points, tau), points)
        with torch.no_grad():
            tangent = grad - (grad * points).sum(dim=1, keepdim=True) * points
            largest = tangent.norm(dim=1).max()
            size = step_min + 0.5 * (step_max - step_min) * (1.0 + math.cos(math.pi * step / steps))
            if largest > 0:
                points = points - size * tangent / largest
            points = points / points.norm(dim=1, keepdim=True)
            loss = _shifted_uniformity(points, tau).item()
            if loss < best_loss:
                best, best_loss = points.clone(), loss
    return best


def _load_cached(path: Path, shape: tuple[int, int]) -> torch.Tensor | None:
    if not path.is_file():
        return None
    try:
        tensor = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: recompute and overwrite it
        warnings.warn(f"ignoring unreadable class-centre cache {path} ({type(err).__name__}); recomputing")
        return None
    usable = isinstance(tensor, torch.Tensor) and tuple(tensor.shape) == shape
    if not usable or not torch.isfinite(tensor).all():
        warnings.warn(f"ignoring class-centre cache {path}: not a finite {shape} tensor; recomputing")
        return None
    return tensor.to(torch.float32)


def uniform_class_centers(
    num_classes: int,
    dim: int,
    *,
    steps: int = 1000,
    seed: int = 0,
    tau: float = 0.07,
    method: str = "auto",
    cache_dir: str | os.PathLike | None = None,
) -> torch.Tensor:
    """K class centres on the unit sphere minimising the uniformity loss (ACTION++ Eq. 3).

    Args:
        num_classes: K >= 1, the number of centres (one per class, background included).
        dim: d >= 2, the embedding dimension (128 in ACTION++).
        steps: gradient-descent iterations (used only when gradient descent runs).
        seed: seeds the random rotation of the simplex or the descent's starting point.
        tau: temperature of Eq. 3 (0.07, as in the public code).
        method: ``"auto"`` (closed-form simplex when K <= d + 1, else gradient descent),
            ``"simplex"`` (closed form; needs K <= d + 1) or ``"gd"`` (always descend).
        cache_dir: folder for the on-disk cache of descent results (see module docstring).

    Returns:
        [K, d] float32 tensor on the CPU with unit-norm rows. A fresh copy each call.

    Raises:
        ValueError: K < 1, d < 2, steps < 1, tau <= 0, an unknown method, or
            ``method="simplex"`` with K > d + 1.
    """
    for name, value, low in (("num_classes", num_classes, 1), ("dim", dim, 2), ("steps", steps, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    if method not in CENTER_METHODS:
        raise ValueError(f"method must be one of {CENTER_METHODS}, got {method!r}")
    num_classes, dim, steps, seed = int(num_classes), int(dim), int(steps), int(seed)
    fits_simplex = num_classes <= dim + 1
    if method == "simplex" and not fits_simplex:
        raise ValueError(
            f"a regular simplex of {num_classes} vertices needs dim >= {num_classes - 1}, got dim={dim}; "
            "use method='gd' or 'auto'"
        )
    use_simplex = method == "simplex" or (method == "auto" and fits_simplex)
    if use_simplex:
        key = ("simplex", num_classes, dim, seed)
        if key not in _MEMORY_CACHE:
            _MEMORY_CACHE[key] = _simplex_centers(num_classes, dim, seed).to(torch.float32)
        return _MEMORY_CACHE[key].clone()

    key = ("gd", num_classes, dim, seed, steps, float(tau))
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key].clone()
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = folder / f"centers_K{num_classes}_d{dim}_gd_seed{seed}_steps{steps}_tau{float(tau):g}.pt"
    centers = _load_cached(path, (num_classes, dim))
    if centers is None:
        centers = _gradient_descent_centers(num_classes, dim, steps, float(tau), seed).to(torch.float32)
        try:
            atomic_torch_save(centers, path)
        except OSError as err:  # a read-only home must not stop training
            warnings.warn(f"could not write class-centre cache {path} ({err}); continuing without it")
    _MEMORY_CACHE[key] = centers
    return centers.clone()


def clear_center_cache() -> None:
    """Forget the in-memory cache (the on-disk files stay)."""
    _MEMORY_CACHE.clear()


def allocate_class_centers(class_means: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """One-to-one assignment of class means to centres of least total distance (ACTION++ Eq. 4).

    Solves pi* = argmin_pi sum_c || psi_{pi(c)} - phi_c ||_2 (Euclidean distances, not
    squared, as printed) with ``scipy.optimize.linear_sum_assignment``. A class whose mean
    is still the zero vector (never seen) is equally far (distance 1) from every unit
    centre, so it simply takes a centre the seen classes leave free.

    Args:
        class_means: [K, d] (moving-average) class means phi_c.
        centers: [M, d] centres psi, M >= K (normally M = K, from `uniform_class_centers`).

    Returns:
        [K] int64 tensor on ``class_means.device``: ``perm[c]`` is the index of the centre
        assigned to class c; entries are distinct.

    Raises:
        ValueError: not 2-D, different d, fewer centres than classes, or non-finite values.
    """
    if class_means.ndim != 2 or centers.ndim != 2:
        raise ValueError(
            f"class_means must be [K, d] and centers [M, d], got {tuple(class_means.shape)} "
            f"and {tuple(centers.shape)}"
        )
    if class_means.shape[1] != centers.shape[1]:
        raise ValueError(
            f"class_means {tuple(class_means.shape)} and centers {tuple(centers.shape)} differ in dimension d"
        )
    if centers.shape[0] < class_means.shape[0]:
        raise ValueError(
            f"need at least as many centers as classes: centers {tuple(centers.shape)}, "
            f"class_means {tuple(class_means.shape)}"
        )
    means = class_means.detach().to("cpu", torch.float64)
    psi = centers.detach().to("cpu", torch.float64)
    if not (torch.isfinite(means).all() and torch.isfinite(psi).all()):
        raise ValueError("class_means and centers must be finite")
    cost = torch.cdist(means, psi).numpy()  # [K, M], cost[c, m] = ||psi_m - phi_c||
    rows, cols = linear_sum_assignment(cost)
    perm = torch.empty(class_means.shape[0], dtype=torch.int64)
    perm[torch.as_tensor(rows, dtype=torch.int64)] = torch.as_tensor(cols, dtype=torch.int64)
    return perm.to(class_means.device)
