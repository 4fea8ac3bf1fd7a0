"""Shared fixtures. Real-data tests find ACDC through ``MONA_LAB_ACDC`` (set by `.ci/run`
when ``../shared/data/ACDC`` exists) and skip with a clear reason when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Shared machines are noisy: property tests check behaviour, never time.
settings.register_profile(
    "mona_lab", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("mona_lab")

REPO_ROOT = Path(__file__).resolve().parent.parent
_SHARED_ACDC = REPO_ROOT.parent / "shared" / "data" / "ACDC"
# Like .ci/run: point MONA_LAB_ACDC at the shared copy beside the checkout when the user has
# not set it. Notebook kernels started by nbval inherit it.
if not os.environ.get("MONA_LAB_ACDC") and _SHARED_ACDC.is_dir():
    os.environ["MONA_LAB_ACDC"] = str(_SHARED_ACDC)


def acdc_root_or_none() -> Path | None:
    raw = os.environ.get("MONA_LAB_ACDC", "").strip()
    if not raw:
        return None
    root = Path(raw)
    return root if (root / "train_slices.list").is_file() else None


@pytest.fixture
def acdc_root() -> Path:
    """The real ACDC copy in the SSL4MIS layout, or a skip that says how to provide it."""
    root = acdc_root_or_none()
    if root is None:
        pytest.skip(
            "real ACDC data not found: set MONA_LAB_ACDC to a folder in the SSL4MIS layout "
            "(train_slices.list, data/slices/*.h5), e.g. MONA_LAB_ACDC=/path/to/ACDC pytest ...; "
            "data/README.md says where to get it"
        )
    return root


@pytest.fixture
def single_thread():
    """One torch intra-op thread for the test, restored afterwards. Tests on tiny tensors use
    it (``pytestmark = pytest.mark.usefixtures("single_thread")``): one thread is faster than
    two there and does not stall on OpenMP barriers when the CI machine's cores are busy."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def fake_la(tmp_path) -> Path:
    """A small fake LA tree in ``tmp_path / "LA"`` (tests/la_fixtures.py: 6 training and 2
    validation volumes of [D, H, W] = (20, 36, 40), each a bright ellipsoid labelled 1)."""
    from la_fixtures import write_fake_la_tree

    return write_fake_la_tree(tmp_path / "LA")
