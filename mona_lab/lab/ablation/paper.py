"""MONA's principle ablations as the paper prints them (TPAMI 2024 Tables III, IV and VI).

MONA's fine-tuning loss (Sec. III-B) is ``L_sup + l1 L_contrast + l2 L_eqv + l3 L_unsup +
l4 L_nn``; each of the three principles switches one term (``TrainConfig.tailness``,
``consistency``, ``diversity``; see `mona_lab.methods.mona`):

- tailness -> L_contrast (Eq. 3-5: hard queries, class-mean positives, graph negatives);
- consistency -> L_eqv (Eq. 6);
- diversity -> L_nn (K nearest teacher embeddings in a FIFO bank).

"Vanilla" (all three off) is GLCon pre-training followed by L_sup + L_unsup, the row the
paper's tables start from. Table III is MONA on ACDC at 5 % labels; Table VI repeats the
same eight combinations for six contrastive frameworks at 1 / 5 / 10 %; its MONA block at
5 % is Table III. The printed numbers are kept here (`PAPER_TABLE_III`,
`PAPER_TABLE_VI_MONA`, `PAPER_TABLE_IV`) so notebooks put them next to mona_lab's runs.
"""
from __future__ import annotations

PRINCIPLES = ("tailness", "consistency", "diversity")
# the eight rows of MONA Table III / VI, in the paper's order
COMBINATIONS: tuple[tuple[bool, bool, bool], ...] = (
    (False, False, False),
    (True, False, False),
    (False, True, False),
    (False, False, True),
    (True, True, False),
    (False, True, True),
    (True, False, True),
    (True, True, True),
)
# loss components each switch adds to log.csv
PRINCIPLE_LOSSES = {"tailness": "contrast", "consistency": "eqv", "diversity": "nn"}


def combination_name(tailness: bool, consistency: bool, diversity: bool) -> str:
    """The paper's row name: ``"vanilla"``, ``"tailness + consistency"``, ... (Table VI wording)."""
    used = [name for name, on in zip(PRINCIPLES, (tailness, consistency, diversity)) if on]
    return " + ".join(used) if used else "vanilla"


# MONA TPAMI 2024 Table VI, block "MONA (ours)": ACDC, UNet, mean of three runs; DSC [%], ASD [mm].
PAPER_TABLE_VI_MONA: dict[str, dict[str, tuple[float, float]]] = {
    "1%": {
        "vanilla": (49.3, 7.11),
        "tailness": (75.1, 1.83),
        "consistency": (81.5, 2.78),
        "diversity": (62.8, 3.97),
        "tailness + consistency": (81.2, 2.19),
        "consistency + diversity": (81.8, 3.29),
        "tailness + diversity": (78.6, 3.33),
        "tailness + consistency + diversity": (82.6, 2.03),
    },
    "5%": {
        "vanilla": (74.2, 3.89),
        "tailness": (83.1, 0.602),
        "consistency": (84.2, 1.86),
        "diversity": (78.2, 3.07),
        "tailness + consistency": (88.1, 0.864),
        "consistency + diversity": (80.2, 2.11),
        "tailness + diversity": (85.0, 0.913),
        "tailness + consistency + diversity": (88.8, 0.622),
    },
    "10%": {
        "vanilla": (86.5, 1.92),
        "tailness": (87.8, 0.577),
        "consistency": (88.4, 1.33),
        "diversity": (86.6, 1.88),
        "tailness + consistency": (90.1, 0.966),
        "consistency + diversity": (86.9, 1.67),
        "tailness + diversity": (89.5, 0.673),
        "tailness + consistency + diversity": (90.7, 0.864),
    },
}
# MONA TPAMI 2024 Table III (ACDC, 5 % labels): the same numbers as Table VI's MONA block at 5 %.
PAPER_TABLE_III: dict[str, tuple[float, float]] = dict(PAPER_TABLE_VI_MONA["5%"])
# MONA TPAMI 2024 Table IV: augmentation pairs, 5 % labels; (student aug., teacher aug., DSC %, ASD mm).
PAPER_TABLE_IV: dict[str, list[tuple[str, str, float, float]]] = {
    "ACDC": [("weak", "weak", 86.0, 1.02), ("strong", "weak", 88.8, 0.622),
             ("weak", "strong", 86.4, 2.83), ("strong", "strong", 88.8, 2.07)],
    "LiTS": [("weak", "weak", 62.3, 26.5), ("strong", "weak", 67.3, 16.4),
             ("weak", "strong", 64.3, 34.7), ("strong", "strong", 66.5, 21.1)],
}  # fmt: skip
