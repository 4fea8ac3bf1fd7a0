"""MONA's principle ablations (TPAMI 2024 Tables III and VI): run one, run the grid, compare.

Five modules, one idea each:

- `mona_lab.lab.ablation.paper`: the three principles, the eight switch combinations and
  the paper's printed numbers (`PAPER_TABLE_III`, `PAPER_TABLE_VI_MONA`, `PAPER_TABLE_IV`);
- `mona_lab.lab.ablation.runs`: `AblationBudget`, `run_ablation_row` (one short run with
  `mona_lab.engine.train`, the widget callback of notebooks 02-04 and the unit of
  ``benchmarks/ablation_grid.py``) and `grid_jobs`;
- `mona_lab.lab.ablation.grid_study`: the grid as a resumable study (one stored record per
  finished run; ``benchmarks/ablation_grid.py``);
- `mona_lab.lab.ablation.principle_effects`: `principle_effect` and
  `format_principle_effects`, one principle's paired per-seed differences over the four
  pairs of rows that differ only in it (how the notebooks say which principles help);
- `mona_lab.lab.ablation.tables`: `summarise_grid`, `load_grid`, `grid_comparison`,
  `format_grid_comparison`, `format_grid_rows`, `seed_gaps`, `rank_agreement` and
  `head_and_tail`, which turn the stored
  runs (``notebooks/results/ablation_grid.json``) into the tables the notebooks print.

Every public name of paper, runs and tables is importable from ``mona_lab.lab.ablation``.
"""
from __future__ import annotations

from mona_lab.lab.ablation.paper import (
    COMBINATIONS,
    PAPER_TABLE_III,
    PAPER_TABLE_IV,
    PAPER_TABLE_VI_MONA,
    PRINCIPLE_LOSSES,
    PRINCIPLES,
    combination_name,
)
from mona_lab.lab.ablation.principle_effects import format_principle_effects, principle_effect, principle_pairs
from mona_lab.lab.ablation.runs import (
    ACDC_GRID_BUDGET,
    DIAGNOSTIC_NO_UNSUP,
    GRID_BUDGET,
    GRID_FAST_BUDGET,
    NOTEBOOK_FAST_BUDGET,
    NOTEBOOK_FULL_BUDGET,
    SAMPLERS,
    SUPERVISED_NAME,
    AblationBudget,
    grid_jobs,
    json_ready,
    logged_components,
    notebook_budget,
    read_log_rows,
    run_ablation_row,
)
from mona_lab.lab.ablation.tables import (
    DEFAULT_ACDC_GRID_PATH,
    DEFAULT_GRID_PATH,
    format_grid_comparison,
    format_grid_rows,
    grid_comparison,
    head_and_tail,
    head_tail_dice,
    load_grid,
    rank_agreement,
    seed_gaps,
    summarise_grid,
)

__all__ = [
    "format_principle_effects",
    "principle_effect",
    "principle_pairs",
    "ACDC_GRID_BUDGET",
    "COMBINATIONS",
    "DEFAULT_ACDC_GRID_PATH",
    "DEFAULT_GRID_PATH",
    "DIAGNOSTIC_NO_UNSUP",
    "GRID_BUDGET",
    "GRID_FAST_BUDGET",
    "NOTEBOOK_FAST_BUDGET",
    "NOTEBOOK_FULL_BUDGET",
    "PAPER_TABLE_III",
    "PAPER_TABLE_IV",
    "PAPER_TABLE_VI_MONA",
    "PRINCIPLES",
    "PRINCIPLE_LOSSES",
    "SAMPLERS",
    "SUPERVISED_NAME",
    "AblationBudget",
    "combination_name",
    "format_grid_comparison",
    "format_grid_rows",
    "grid_comparison",
    "grid_jobs",
    "head_and_tail",
    "head_tail_dice",
    "json_ready",
    "load_grid",
    "logged_components",
    "notebook_budget",
    "rank_agreement",
    "read_log_rows",
    "run_ablation_row",
    "seed_gaps",
    "summarise_grid",
]
