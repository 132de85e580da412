"""Component weights: chosen by regime, redistributed when a component is unavailable."""

from typing import Literal

from sextant.config.risk import COMPONENTS, RiskSettings

RegimeFamily = Literal["trending", "ranging", "volatile"]


def regime_family(regime: str) -> RegimeFamily:
    if regime.startswith("trending"):
        return "trending"
    if regime == "volatile":
        return "volatile"
    return "ranging"


def base_weights(regime: str, settings: RiskSettings) -> dict[str, float]:
    return getattr(settings.weights, regime_family(regime)).as_dict()


def effective_weights(
    base: dict[str, float],
    components: dict[str, float | None],
    news_weight_override: float | None = None,
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
    available = {k for k in COMPONENTS if components.get(k) is not None}
    total = sum(weights[k] for k in available)
    if total <= 0:
        return {k: 0.0 for k in COMPONENTS}
    return {k: (weights[k] / total if k in available else 0.0) for k in COMPONENTS}


def final_score(components: dict[str, float | None], weights: dict[str, float]) -> float:
    score = sum(
        weights[k] * float(v) for k, v in components.items() if v is not None and k in weights
    )
    return max(-1.0, min(1.0, score))
