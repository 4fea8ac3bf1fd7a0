"""Widget callbacks are plain functions: the tests call them directly."""
from __future__ import annotations

import numpy as np

from mona_lab.widgets import phantom_stats_at_exponent


def test_zipf_slider_callback_regenerates_a_steeper_tail_for_a_larger_exponent():
    fitted = [phantom_stats_at_exponent(s, num_patients=4, image_size=64).zipf_exponent for s in (0.5, 1.0, 2.0)]
    assert np.all(np.diff(fitted) > 0.2), fitted
    assert abs(fitted[1] - 1.0) < 0.3 and abs(fitted[2] - 2.0) < 0.4


def test_zipf_slider_callback_is_deterministic():
    a = phantom_stats_at_exponent(1.5, num_patients=3, image_size=64, seed=4)
    b = phantom_stats_at_exponent(1.5, num_patients=3, image_size=64, seed=4)
    assert np.array_equal(a.counts, b.counts)
