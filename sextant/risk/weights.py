"""Component weights: chosen by regime, redistributed when a component is unavailable.

Each rule has one implementation, written on numpy arrays (one element per bar) so that the
backtester can apply it to a whole series at once; the per-cycle functions (`effective_weights`,
`final_score`, `score_side`) call the very same array functions on single values.
"""

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from sextant.config.risk import COMPONENTS, WEIGHT_BOUNDS, RiskSettings

RegimeFamily = Literal["trending", "ranging", "volatile"]
Redistribution = Literal["proportional", "capped"]
REGIME_FAMILIES: tuple[RegimeFamily, ...] = ("trending", "ranging", "volatile")


def regime_family(regime: str) -> RegimeFamily:
    if regime.startswith("trending"):
        return "trending"
    if regime == "volatile":
        return "volatile"
    return "ranging"


def risk_regime(regime: str | None) -> str:
    """The regime the Risk Manager weighs by: the Math Engine's, or ranging when it has none."""
    return regime or "ranging"


def base_weights(regime: str, settings: RiskSettings) -> dict[str, float]:
    return getattr(settings.weights, regime_family(regime)).as_dict()


def base_weight_arrays(
    regimes: Sequence[str | None] | np.ndarray, settings: RiskSettings
) -> dict[str, np.ndarray]:
    """`base_weights(risk_regime(r))` for every element of `regimes`, as one array per component."""
    regimes = np.asarray(regimes, dtype=object)
    out = {k: np.zeros(len(regimes)) for k in COMPONENTS}
    for regime in dict.fromkeys(regimes.tolist()):  # the few distinct values, in a fixed order
        rows = regimes == regime if regime is not None else np.equal(regimes, None)
        for k, w in base_weights(risk_regime(regime), settings).items():
            out[k][rows] = w
    return out


def effective_weight_arrays(
    base: Mapping[str, np.ndarray | float],
    available: Mapping[str, np.ndarray | bool],
    mode: Redistribution = "proportional",
) -> dict[str, np.ndarray]:
    """Elementwise: what the unavailable components' weights become.

    proportional (the spec's reading): weight_k = base_k / sum(base_j over available j) for
        available k, else 0; all zero when nothing is available. The sum runs in the fixed
        order of COMPONENTS. The effective weights can leave the spec's ranges (trend 0.64
        when open interest and news are missing).
    capped: the missing weight goes to the available components pro rata to their base
        weights, but none rises above the top of its spec range (WEIGHT_BOUNDS); what a capped
        component cannot take goes on to the others, and what nobody can take is left out
        (the weights then sum to less than 1 and the score's range shrinks with them).
    """
    if mode == "capped":
        return _capped_weight_arrays(base, available)
    total: np.ndarray | float = 0.0
    for k in COMPONENTS:
        total = total + np.where(available[k], base[k], 0.0)
    some = np.greater(total, 0)
    safe = np.where(some, total, 1.0)
    return {k: np.where(some & available[k], np.divide(base[k], safe), 0.0) for k in COMPONENTS}


def _capped_weight_arrays(
    base: Mapping[str, np.ndarray | float], available: Mapping[str, np.ndarray | bool]
) -> dict[str, np.ndarray]:
    weights = {k: np.where(available[k], base[k], 0.0) for k in COMPONENTS}
    left: np.ndarray | float = 0.0
    for k in COMPONENTS:
        left = left + np.where(available[k], 0.0, base[k])
    open_ = {k: np.asarray(available[k], dtype=bool) & True for k in COMPONENTS}
    # Water-filling: at most one round per component, each round caps at least one more.
    for _ in COMPONENTS:
        share: np.ndarray | float = 0.0
        for k in COMPONENTS:
            share = share + np.where(open_[k], base[k], 0.0)
        can = np.greater(share, 0) & np.greater(left, 1e-15)
        safe = np.where(can, share, 1.0)
        spill: np.ndarray | float = 0.0
        for k in COMPONENTS:
            hi = WEIGHT_BOUNDS[k][1]
            wanted = weights[k] + np.where(can & open_[k], left * np.divide(base[k], safe), 0.0)
            capped = np.minimum(wanted, hi)
            spill = spill + (wanted - capped)
            open_[k] = open_[k] & (capped < hi)
            weights[k] = capped
        left = np.where(can, spill, left)
    return {k: np.asarray(weights[k], dtype=np.float64) for k in COMPONENTS}


def final_score_array(
    components: Mapping[str, np.ndarray | float], weights: Mapping[str, np.ndarray | float]
) -> np.ndarray:
    """Elementwise sum of weight x value over the available (non-NaN) components, in [-1, 1]."""
    score: np.ndarray | float = 0.0
    for k in COMPONENTS:
        value = components[k]
        score = score + np.where(np.isnan(value), 0.0, np.multiply(weights[k], value))
    return np.clip(score, -1.0, 1.0)


def score_sides(score: np.ndarray | float, settings: RiskSettings) -> np.ndarray:
    """Elementwise decision of a final score: 1 LONG (> long_threshold), -1 SHORT
    (< short_threshold), 0 WAIT (in between, or NaN)."""
    return np.where(
        np.greater(score, settings.long_threshold),
        1,
        np.where(np.less(score, settings.short_threshold), -1, 0),
    ).astype(np.int8)


def score_side(score: float, settings: RiskSettings) -> int:
    """`score_sides` of one score."""
    return int(score_sides(score, settings))


def effective_weights(
    base: dict[str, float],
    components: dict[str, float | None],
    news_weight_override: float | None = None,
    mode: Redistribution = "proportional",
) -> dict[str, float]:
    """Weights actually applied: unavailable components give theirs to the others pro rata.

    `news_weight_override` (the news "driver" weight) replaces the news weight first and the
    other components shrink proportionally so the total stays 1.
    """
    weights = dict(base)
    if news_weight_override is not None:
        others = sum(w for k, w in weights.items() if k != "news")
        scale = (1 - news_weight_override) / others if others > 0 else 0.0
        weights = {
            k: (news_weight_override if k == "news" else w * scale) for k, w in weights.items()
        }
    available = {k: components.get(k) is not None for k in COMPONENTS}
    arrays = effective_weight_arrays(weights, available, mode)
    return {k: float(arrays[k]) for k in COMPONENTS}


def final_score(components: dict[str, float | None], weights: dict[str, float]) -> float:
    """`final_score_array` of one set of components (None = unavailable)."""
    values = {
        k: np.nan if components.get(k) is None else float(components[k])  # type: ignore[arg-type]
        for k in COMPONENTS
    }
    return float(final_score_array(values, {k: weights.get(k, 0.0) for k in COMPONENTS}))


# The availability cases a weight table shows: what a cycle or a backtest usually has.
WEIGHT_CASES: tuple[tuple[str, frozenset[str]], ...] = (
    ("all five", frozenset()),
    ("no news", frozenset({"news"})),
    ("no open interest", frozenset({"open_interest"})),
    ("no open interest, no news", frozenset({"open_interest", "news"})),
)


def weight_table(settings: RiskSettings) -> list[dict[str, object]]:
    """The weights the score actually uses, per regime family and availability case, beside
    the spec's ranges: `outside` names the components whose effective weight leaves its range
    (an unavailable component's 0 is not counted)."""
    rows: list[dict[str, object]] = []
    for family in REGIME_FAMILIES:
        base = getattr(settings.weights, family).as_dict()
        for case, missing in WEIGHT_CASES:
            comps: dict[str, float | None] = {k: None if k in missing else 0.0 for k in COMPONENTS}
            w = effective_weights(base, comps, mode=settings.weight_redistribution)
            outside = [
                k for k in COMPONENTS
                if k not in missing
                and not WEIGHT_BOUNDS[k][0] - 1e-9 <= w[k] <= WEIGHT_BOUNDS[k][1] + 1e-9
            ]
            rows.append({
                "regime": family,
                "case": case,
                "weights": {k: round(w[k], 6) for k in COMPONENTS},
                "total": round(sum(w.values()), 6),
                "outside": outside,
                "ranges": {k: list(WEIGHT_BOUNDS[k]) for k in COMPONENTS},
            })
    return rows
