"""The fast routes' cost knobs: which route `sample_pixels` takes and how many tries.

None of these numbers changes the law of the draws (every route draws from the law of
`mona_lab.samplers.reference`); they only trade one kind of work for another. They are
read as module attributes at call time (``costs.REJECTION_TRIES``), so a test can
change one for both routes at once.
"""
from __future__ import annotations

# uniform tries per draw (SAG partners from a group's asymmetric part; on the cell route
# also every draw from a group) before the explicit list of that set is built (both give
# the same, exact law; this only sets the cost).
REJECTION_TRIES = 32
# the cell route is taken when the tries it draws are fewer than the padded mask's
# pixels divided by this factor (otherwise listing every mask pixel is cheaper)
CELL_ROUTE_FACTOR = 4
# the cell route's tries per SAG partner, in multiples of `REJECTION_TRIES`
PARTNER_TRIES_FACTOR = 4


def use_cell_route(n: int, positions: int) -> bool:
    """Whether ``n`` SG/SAG draws on a mask of ``positions`` padded pixels take the cell
    route (`mona_lab.samplers.cell_route`) rather than the listed route."""
    return n * (1 + REJECTION_TRIES) * CELL_ROUTE_FACTOR <= positions
