import pydantic
import pytest

from sextant.config.math import MathSettings


def test_defaults_are_the_documented_ones() -> None:
    s = MathSettings()
    assert (s.ma_fast, s.ma_mid, s.ma_slow) == (20, 50, 200)
    assert (s.rsi_period, s.rsi_overbought, s.rsi_oversold) == (14, 70.0, 30.0)
    assert (s.adx_period, s.adx_trend_threshold) == (14, 25.0)
    assert s.timeframe_weights == {"1h": 0.3, "4h": 0.5, "1d": 0.2}
    assert s.daily_veto_threshold == 0.5
    assert (s.atr_stop_days, s.vol_ratio_recent_bars, s.vol_ratio_baseline_bars) == (30, 24, 720)


def test_every_field_is_documented() -> None:
    for name, field in MathSettings.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ma_fast": 60}, "ma_fast < ma_mid < ma_slow"),
        ({"ma_slow": 50}, "ma_fast < ma_mid < ma_slow"),
        ({"timeframe_weights": {"1h": 0.3, "4h": 0.5, "1d": 0.3}}, "timeframe_weights"),
        ({"timeframe_weights": {"1h": 0.5, "4h": 0.5}}, "timeframe_weights"),
        ({"component_weights": {"trend": 1.0, "momentum": 0.0, "volume": 0.0}}, "component"),
        ({"trend_weight_slope": 0.5}, "trend_weight"),
        ({"rsi_trend_strength": 85.0}, "rsi_trend_strength <= rsi_exhaustion"),
        ({"vol_ratio_recent_bars": 720}, "vol_ratio_recent_bars"),
        ({"rsi_period": 0}, "rsi_period"),
        ({"daily_veto_threshold": 1.5}, "daily_veto_threshold"),
        ({"volatile_atr_ratio": 1.0}, "volatile_atr_ratio"),
        ({"no_such_field": 1}, "no_such_field"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(changes: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        MathSettings(**changes)


def test_weights_within_1e9_of_one_are_accepted() -> None:
    MathSettings(timeframe_weights={"1h": 0.3, "4h": 0.5, "1d": 0.2 + 5e-10})


def test_settings_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        MathSettings().ma_fast = 10  # type: ignore[misc]
