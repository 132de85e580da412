import numpy as np
import pytest

from sextant.config.math import MathSettings
from sextant.math_engine.blend import confidence, nan_weighted_mean, sign_vote
from sextant.math_engine.candles import candles_from_frame
from sextant.math_engine.timeframe import timeframe_arrays
from tests.math_engine.frames import random_walk

WEIGHTS = [0.45, 0.30, 0.10, 0.15]  # trend, momentum, volume, open_interest


def _parts(*values: float) -> list[np.ndarray]:
    return [np.array([v]) for v in values]


def test_blend_by_hand_with_an_unavailable_component() -> None:
    parts = _parts(0.8, 0.4, -0.2, np.nan)  # no OI: its 0.15 is shared out
    # score = (0.45*0.8 + 0.30*0.4 + 0.10*(-0.2)) / 0.85 = 0.46 / 0.85 = 0.541176
    # vote  = (0.45 + 0.30 - 0.10) / 0.85 = 0.65 / 0.85 = 0.764706
    # confidence = sqrt(0.764706 * 0.541176) = 0.643305
    score = nan_weighted_mean(parts, WEIGHTS)
    vote = sign_vote(parts, WEIGHTS)
    assert score[0] == pytest.approx(0.46 / 0.85)
    assert vote[0] == pytest.approx(0.65 / 0.85)
    assert confidence(score, vote)[0] == pytest.approx(np.sqrt(0.65 / 0.85 * 0.46 / 0.85))


def test_confidence_is_zero_when_the_vote_backs_the_other_side() -> None:
    # trend -0.9 alone outweighs three weak positives: score < 0 but vote > 0
    parts = _parts(-0.9, 0.1, 0.1, 0.1)
    score = nan_weighted_mean(parts, WEIGHTS)  # -0.405 + 0.055 = -0.35
    vote = sign_vote(parts, WEIGHTS)  # -0.45 + 0.55 = +0.10
    assert score[0] == pytest.approx(-0.35) and vote[0] == pytest.approx(0.10)
    assert confidence(score, vote)[0] == 0.0


def test_full_agreement_at_the_extreme_is_full_confidence() -> None:
    parts = _parts(-1.0, -1.0, -1.0, -1.0)
    score, vote = nan_weighted_mean(parts, WEIGHTS), sign_vote(parts, WEIGHTS)
    assert (score[0], vote[0], confidence(score, vote)[0]) == (-1.0, -1.0, 1.0)


def test_nothing_available_is_nan() -> None:
    assert np.isnan(nan_weighted_mean(_parts(np.nan, np.nan, np.nan, np.nan), WEIGHTS)[0])


def test_timeframe_blend_uses_the_component_weights() -> None:
    s = MathSettings()
    t = timeframe_arrays(candles_from_frame(random_walk(400, 1), "1h"), "1h", None, s)
    c = {k: v["score"][-1] for k, v in t.components.items()}
    expected = (0.45 * c["trend"] + 0.3 * c["momentum"] + 0.1 * c["volume"]) / 0.85
    assert t.score[-1] == pytest.approx(expected)
    assert np.nanmin(t.score) >= -1 and np.nanmax(t.score) <= 1 and np.nanmin(t.confidence) >= 0
