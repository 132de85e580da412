import numpy as np
import pandas as pd
import pytest

from sextant.config.math import MathSettings
from sextant.math_engine import analyze, analyze_series, resample_ohlcv
from sextant.math_engine.alignment import aligned_index
from sextant.math_engine.analysis import combine
from tests.math_engine.frames import START, candles, random_walk

S = MathSettings()
HOUR = 3_600_000_000_000


def _row(score: float, regime: str = "ranging", **components: float) -> dict[str, np.ndarray]:
    row = {
        "score": np.array([score]),
        "vote": np.array([np.sign(score)]),
        "regime": np.array([regime], dtype=object),
    }
    for name in ("trend", "momentum", "volume", "open_interest"):
        row[name] = np.array([components.get(name, np.nan)])
    return row


def test_timeframe_weights_by_hand() -> None:
    rows = {"1h": _row(0.2, trend=1.0), "4h": _row(0.6, trend=0.5), "1d": _row(-0.4, trend=-1.0)}
    out = combine(rows, S, 1)
    # 0.3 * 0.2 + 0.5 * 0.6 + 0.2 * (-0.4) = 0.06 + 0.30 - 0.08 = 0.28
    assert out["score"][0] == pytest.approx(0.28)
    # trend: 0.3 * 1 + 0.5 * 0.5 + 0.2 * (-1) = 0.35; votes: 0.3 + 0.5 - 0.2 = 0.6
    assert out["trend"][0] == pytest.approx(0.35)
    assert out["vote"][0] == pytest.approx(0.6)
    assert np.isnan(out["open_interest"][0])  # unavailable on every timeframe


def test_weights_are_renormalised_over_available_timeframes() -> None:
    rows = {"1h": _row(0.2, momentum=0.5), "4h": _row(0.6), "1d": _row(-0.4, momentum=-0.5)}
    del rows["4h"]
    out = combine(rows, S, 1)
    # (0.3 * 0.2 + 0.2 * (-0.4)) / 0.5 = -0.04; momentum (0.15 - 0.10) / 0.5 = 0.1
    assert out["score"][0] == pytest.approx(-0.04)
    assert out["momentum"][0] == pytest.approx(0.1)
    # a component missing on one timeframe only is renormalised over the others
    rows = {"1h": _row(0.1, volume=0.4), "4h": _row(0.1), "1d": _row(0.1, volume=-0.6)}
    assert combine(rows, S, 1)["volume"][0] == pytest.approx((0.3 * 0.4 - 0.2 * 0.6) / 0.5)


def test_combined_regime_is_the_weighted_majority_ties_to_the_heavier() -> None:
    rows = {
        "1h": _row(0.1, "trending_up"),
        "4h": _row(0.1, "ranging"),
        "1d": _row(0.1, "trending_up"),
    }
    assert combine(rows, S, 1)["regime"][0] == "ranging"  # 0.5 vs 0.3 + 0.2: tie -> 4h
    rows["4h"] = _row(np.nan, "volatile")  # 4h has no score: not counted
    assert combine(rows, S, 1)["regime"][0] == "trending_up"


@pytest.mark.parametrize(
    ("daily", "veto"),
    [(-0.6, "long"), (-0.5, "long"), (-0.49, None), (0.49, None), (0.5, "short"), (0.8, "short")],
)
def test_daily_veto_thresholds(daily: float, veto: str | None) -> None:
    rows = {"1h": _row(0.9), "4h": _row(0.9), "1d": _row(daily)}
    assert combine(rows, S, 1)["daily_veto"][0] == veto


def _frames(one_hour: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        "1h": one_hour,
        "4h": resample_ohlcv(one_hour, "4h"),
        "1d": resample_ohlcv(one_hour, "1d"),
    }


def test_daily_veto_both_directions_end_to_end() -> None:
    # Daily line down: trend -1, RSI 0 in a down-trend -> -0.5, volume 0 (closes mid-bar);
    # 1d score = (0.45 * -1 + 0.30 * -0.5) / 0.85 = -0.7059 <= -0.5 -> longs vetoed.
    # the last 1h bar closes with the last daily bar (day 299 closes at day 300, 00:00)
    hourly = candles(100.0 + np.arange(24), start=START + pd.Timedelta(days=299))
    down = analyze("X", {"1h": hourly, "1d": candles(500.0 - np.arange(300), freq="1D")})
    assert down.timeframes["1d"].score == pytest.approx(-0.6 / 0.85)
    assert down.daily_veto == "long"
    assert down.daily_veto_reason is not None and "-0.706 <= -0.50" in down.daily_veto_reason
    up = analyze("X", {"1h": hourly, "1d": candles(200.0 + np.arange(300), freq="1D")})
    assert up.timeframes["1d"].score == pytest.approx(0.6 / 0.85)
    assert up.daily_veto == "short"
    assert "vetoes shorts" in (up.daily_veto_reason or "")
    quiet = analyze("X", {"1h": hourly, "1d": candles(np.full(300, 50.0), freq="1D")})
    assert quiet.daily_veto is None and quiet.daily_veto_reason is None


def test_analyze_combines_its_timeframes() -> None:
    a = analyze("X", _frames(random_walk(24 * 120, seed=5)))
    assert set(a.timeframes) == {"1h", "4h", "1d"}
    w = {"1h": 0.3, "4h": 0.5, "1d": 0.2}
    assert a.score == pytest.approx(sum(w[t] * a.timeframes[t].score for t in w))
    assert a.components["trend"] == pytest.approx(
        sum(w[t] * a.timeframes[t].trend.value for t in w)  # type: ignore[operator]
    )
    assert a.components["open_interest"] is None
    assert a.regime == a.timeframes["4h"].regime


def test_four_hour_bar_is_usable_from_the_1h_bar_that_closes_with_it() -> None:
    # The 4h bar opening 08:00 closes 12:00: the 1h bar opening 11:00 (closing 12:00) is the
    # first to see it; the 1h bar opening 10:00 still sees the 04:00 bar.
    ref = np.array([11, 12]) * HOUR  # closes of the 1h bars opening 10:00 and 11:00
    closes_4h = np.array([4, 8, 12, 16]) * HOUR  # 4h bars opening 00:00, 04:00, 08:00, 12:00
    assert list(aligned_index(ref, closes_4h, 4 * HOUR)) == [1, 2]

    one_hour = random_walk(24 * 30, seed=11)
    frames = _frames(one_hour)
    series = analyze_series(frames)
    day = pd.Timestamp("2025-01-20", tz="UTC")
    at = series.loc[[day + pd.Timedelta(hours=10), day + pd.Timedelta(hours=11)], "4h.bar_time"]
    assert list(at) == [day + pd.Timedelta(hours=4), day + pd.Timedelta(hours=8)]
    # Per cycle: a 4h bar that has not closed yet (passed by mistake) is ignored.
    upto = one_hour.loc[: day + pd.Timedelta(hours=10)]
    a = analyze("X", {"1h": upto, "4h": frames["4h"]})
    assert a.timeframes["4h"].bar_time == day + pd.Timedelta(hours=4)
    a = analyze("X", {"1h": one_hour.loc[: day + pd.Timedelta(hours=11)], "4h": frames["4h"]})
    assert a.timeframes["4h"].bar_time == day + pd.Timedelta(hours=8)


def test_daily_bar_is_usable_from_the_last_hour_of_its_day() -> None:
    series = analyze_series(_frames(random_walk(24 * 40, seed=12)))
    day = pd.Timestamp("2025-02-01", tz="UTC")
    at = series.loc[[day + pd.Timedelta(hours=22), day + pd.Timedelta(hours=23)], "1d.bar_time"]
    assert list(at) == [day - pd.Timedelta(days=1), day]


def test_stale_timeframe_is_left_out_with_a_note() -> None:
    one_hour = random_walk(24 * 60, seed=13)
    frames = _frames(one_hour)
    frames["1d"] = frames["1d"].iloc[:-3]  # the daily feed stopped three days ago
    a = analyze("X", frames)
    assert "1d" not in a.timeframes and a.daily_veto is None
    assert any("1d" in note and "stale" in note for note in a.notes)
    series = analyze_series(frames)
    assert series["1d.score"].iloc[-1:].isna().all()
    assert a.score == pytest.approx(series["score"].iloc[-1])


def test_short_history_never_raises() -> None:
    a = analyze("X", {"1h": candles([100.0, 101.0]), "4h": None})
    assert a.timeframes == {} and a.score is None and a.regime is None
    assert a.volatility.atr_pct_30d is None
    empty = analyze("X", {})
    assert empty.score is None and empty.as_of is None
