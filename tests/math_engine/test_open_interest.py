import numpy as np
import pandas as pd
import pytest

from sextant.config.math import MathSettings
from sextant.math_engine import analyze_timeframe, open_interest_score
from sextant.math_engine.open_interest import lookback_bars
from tests.math_engine.frames import START, candles

SMALL = MathSettings(atr_period=2)
DAY = pd.Timedelta(days=1)


def _daily(closes: list[float]) -> pd.DataFrame:
    # high = close + 1, low = close - 1 and steps of 1: every true range is 2, ATR(2) = 2.
    return candles(closes, freq="1D")


def _oi_at_closes(values: dict[int, float]) -> pd.Series:
    """OI observed exactly at the close of the given daily bars (bar i closes at START+(i+1)d)."""
    times = [START + (i + 1) * DAY for i in values]
    return pd.Series(list(values.values()), index=pd.DatetimeIndex(times))


@pytest.mark.parametrize(
    ("closes", "oi_then", "oi_now", "expected", "signal"),
    [
        # Daily bars: the 24 h horizon is 1 bar. Price 102 -> 103: move 1 = 0.5 ATR
        # -> price strength 0.5; OI +2.5% -> / 5% = 0.5; score = +sqrt(0.5 * 0.5) = +0.5
        ([100.0, 101, 102, 103], 1000.0, 1025.0, 0.5, "new_longs"),
        # price up, OI down 2.5%: short covering, scaled by oi_unwind_weight 0.5 -> +0.25
        ([100.0, 101, 102, 103], 1000.0, 975.0, 0.25, "short_squeeze"),
        # price down, OI up: new shorts -> -0.5
        ([103.0, 102, 101, 100], 1000.0, 1025.0, -0.5, "new_shorts"),
        # price down, OI down: long liquidation -> -0.25
        ([103.0, 102, 101, 100], 1000.0, 975.0, -0.25, "long_liquidation"),
        # OI +10% saturates at 1: sqrt(0.5 * 1) = 0.7071
        ([100.0, 101, 102, 103], 1000.0, 1100.0, np.sqrt(0.5), "new_longs"),
    ],
)
def test_oi_quadrants_by_hand(
    closes: list[float], oi_then: float, oi_now: float, expected: float, signal: str
) -> None:
    oi = _oi_at_closes({2: oi_then, 3: oi_now})
    out = open_interest_score(_daily(closes), oi, "1d", SMALL).iloc[-1]
    assert out["price_strength"] == pytest.approx(0.5)
    assert out["oi_change_pct"] == pytest.approx(100 * (oi_now / oi_then - 1))
    assert out["score"] == pytest.approx(expected)
    assert out["signal"] == signal
    assert out["squeeze"] == (signal in ("short_squeeze", "long_liquidation"))


def test_squeeze_is_flagged_in_the_component() -> None:
    closes = list(100.0 + np.arange(30))
    oi = _oi_at_closes({28: 1000.0, 29: 975.0})
    analysis = analyze_timeframe(_daily(closes), "1d", oi, SMALL)
    assert analysis is not None
    assert analysis.open_interest.inputs["squeeze"] is True
    assert "short covering" in analysis.open_interest.note


def test_value_is_joined_as_of_the_bar_close() -> None:
    closes = [100.0, 101, 102, 103]
    oi = _oi_at_closes({2: 1000.0, 3: 1025.0})
    # One second after bar 3's close, a new value is not yet known to bar 3.
    late = pd.concat([oi, pd.Series([5000.0], index=[START + 4 * DAY + pd.Timedelta(seconds=1)])])
    out = open_interest_score(_daily(closes), late, "1d", SMALL)
    assert out["open_interest"].iloc[-1] == 1025.0
    assert out["score"].iloc[-1] == pytest.approx(0.5)


def test_no_data_gives_none_with_note() -> None:
    analysis = analyze_timeframe(candles(100.0 + np.arange(60)), "1h", None)
    assert analysis is not None
    assert analysis.open_interest.value is None
    assert analysis.open_interest.note == "no open-interest data"
    # and the blend renormalises over the other three components
    assert analysis.score == pytest.approx(
        (0.45 * analysis.trend.value + 0.3 * analysis.momentum.value + 0.1 * analysis.volume.value)
        / 0.85
    )


def test_stale_value_is_not_used() -> None:
    oi = _oi_at_closes({0: 1000.0})  # observed days before the last bar closes
    analysis = analyze_timeframe(_daily(list(100.0 + np.arange(30))), "1d", oi, SMALL)
    assert analysis is not None
    assert analysis.open_interest.value is None
    assert "within 48 h" in analysis.open_interest.note


def test_accepts_the_data_folder_layout() -> None:
    raw = pd.DataFrame(
        {
            "timestamp_ms": [int((START + k * DAY).timestamp() * 1000) for k in (3, 4)],
            "open_interest_value_usd": [1000.0, 1025.0],
        }
    )
    out = open_interest_score(_daily([100.0, 101, 102, 103]), raw, "1d", SMALL)
    assert out["score"].iloc[-1] == pytest.approx(0.5)


def test_lookback_in_bars_per_timeframe() -> None:
    s = MathSettings()
    hour = 3_600_000_000_000
    assert [lookback_bars(s, h * hour) for h in (1, 4, 24)] == [24, 6, 1]
