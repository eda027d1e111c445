"""The kinds of damage real images carry, each a small function: (28, 28) float32 in [0, 1], light
ink on black, a severity 1 (mild) .. 3 (strong, still readable by a person) and a generator -> the
damaged (28, 28) float32 in [0, 1]. Written here from the descriptions of the damage, not from any
library's code.

corrupted.py builds the test-only corruption set from them; `damaged_copies` puts held-out digits
through the kinds anyone may tune on (not HELD_OUT_KINDS), for calibration (heldout.with_damage)
and for choosing thresholds.

The kinds themselves: damage_kinds.py, drawn with damage_drawing.py."""

from __future__ import annotations

import numpy as np

from digitlab.data.damage_drawing import _as_bytes
from digitlab.data.damage_kinds import (brightness, dotted_line, dust_scratches, edge_image, fog, glass_blur,
                                        impulse_noise, jpeg, low_contrast, motion_blur, occlusion, rotation,
                                        ruled_lines, scale, shear, shot_noise, spatter, stripes, translation,
                                        uneven_light, zigzag)

SEED = 0  # the corruption set's seed; figures in RESULTS.md and the report are on this one


# The order is part of the set: it seeds each image and lays the set out (index // PER_KIND).
KINDS = {
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "shear": shear,
    "scale": scale,
    "rotation": rotation,
    "brightness": brightness,
    "translation": translation,
    "stripes": stripes,
    "fog": fog,
    "spatter": spatter,
    "dotted_line": dotted_line,
    "zigzag": zigzag,
    "edge_image": edge_image,
    "jpeg": jpeg,
    "low_contrast": low_contrast,
    "uneven_light": uneven_light,
    "dust_scratches": dust_scratches,
    "occlusion": occlusion,
    "ruled_lines": ruled_lines,
}
NAMES = tuple(KINDS)

# Chosen on 2026-12-06, before any model was tuned on this set, to stay unseen: no training
# augmentation, calibration or threshold may use these kinds, and every report gives their accuracy
# apart ("held-out kinds"), so that a gain on the others can be told from one that generalises.
HELD_OUT_KINDS = frozenset({"zigzag", "spatter", "dust_scratches", "ruled_lines", "glass_blur"})
SEVERITIES = (1, 2, 3)
TUNING_SEED = 1  # tuning_set's draws: never the set's own (SEED)



def severity_of(i: int) -> int:
    """Image i of every kind is damaged at severity 1, 2, 3, 1, 2, 3, ..."""
    return i % len(SEVERITIES) + 1


def damaged(kind: str, i: int, clean: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Image i of `kind`: the held-out digit `clean` ((28, 28) uint8) damaged at its severity,
    (28, 28) uint8, from a generator seeded from (seed, kind, i) alone."""
    rng = np.random.default_rng([seed, NAMES.index(kind), i])
    out = KINDS[kind](clean.astype(np.float32) / 255, severity_of(i), rng)
    return _as_bytes(out)


def damaged_copies(images: np.ndarray, seed: int = TUNING_SEED) -> np.ndarray:
    """(n, 28, 28) uint8 held-out digits (never the set's own) -> each under one of the kinds anyone
    may tune on, in turn, at severity 1, 2, 3 in turn: what calibration fits a temperature on beside
    the clean digits (heldout.with_damage)."""
    kinds = [kind for kind in NAMES if kind not in HELD_OUT_KINDS]
    return np.stack([damaged(kinds[i % len(kinds)], i // len(kinds), image, seed)
                     for i, image in enumerate(images)]) if len(images) else images.copy()
