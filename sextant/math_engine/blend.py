"""Weighted means over whatever is available, the sign vote and the confidence formula.

Shared by the within-timeframe blend and the multi-timeframe combination, on arrays, so the
per-cycle path (arrays of one element) and the backtest series run the very same arithmetic.
"""

import numpy as np


def nan_weighted_mean(parts: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Element-wise weighted mean over the available (non-NaN) parts, weights renormalised.

    NaN where no part with a positive weight is available.
    """
    total = np.zeros(np.shape(parts[0]))
    weight = np.zeros(np.shape(parts[0]))
    for part, w in zip(parts, weights, strict=True):
        available = ~np.isnan(part)
        total += np.where(available, part, 0.0) * w
        weight += available * w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def nan_mean(parts: list[np.ndarray]) -> np.ndarray:
    """Element-wise mean of the parts that are not NaN; NaN where all are."""
    return nan_weighted_mean(parts, [1.0] * len(parts))


def sign_vote(parts: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted mean of the signs of the available parts: +1 when all point up."""
    return nan_weighted_mean([np.sign(p) for p in parts], weights)


def confidence(score: np.ndarray, vote: np.ndarray) -> np.ndarray:
    """sqrt(agreement x magnitude), in [0, 1].

    agreement = max(0, sign(score) x vote): how much of the weighted vote backs the score's
    direction (0 when the components split evenly or lean the other way); magnitude = |score|.
    The geometric mean is 1 only when every component is at the same extreme, and 0 when
    either factor is.
    """
    agreement = np.maximum(0.0, np.sign(score) * vote)
    return np.sqrt(agreement * np.abs(score))


def clip_unit(x: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1]: weighted means can overshoot by a rounding error."""
    return np.clip(x, -1.0, 1.0)
