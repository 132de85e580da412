"""Strategy profiles: shipped TOML presets, layered defaults < profile < --config < environment."""

from pathlib import Path

import pytest

import sextant.profiles as profiles
from cli.main import main
from sextant.config import ConfigError, Settings, load_settings
from sextant.profiles import DEFAULT_PROFILE, available_profiles

REPO = Path(__file__).resolve().parents[1]


def dump(s: Settings) -> dict:
    return s.model_dump(mode="json", exclude={"profile"})


def test_the_spec_profile_is_the_code_defaults() -> None:
    spec = load_settings(profile="spec")
    assert spec.profile == "spec"
    assert dump(spec) == dump(Settings())  # Settings() alone: the code's defaults, no profile


@pytest.mark.parametrize("name", available_profiles())
def test_every_profile_loads_and_has_its_page(name: str) -> None:
    s = load_settings(profile=name)
    assert s.profile == name
    page = REPO / "docs" / "strategy" / "profiles" / f"{name}.md"
    assert page.is_file(), page
    assert f"`{name}`" in page.read_text(encoding="utf-8")


def test_default_profile_is_shipped() -> None:
    assert DEFAULT_PROFILE in available_profiles()
    assert load_settings().profile == DEFAULT_PROFILE


@pytest.fixture
def custom(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A profile folder with the shipped ones plus `testing` (thresholds 0.3, stop cap 8 %)."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    for p in profiles.PROFILES_DIR.glob("*.toml"):
        (folder / p.name).write_text(p.read_text())
    (folder / "testing.toml").write_text(
        "# a test profile\n[risk]\nlong_threshold = 0.3\nstop_max_pct = 8.0\n"
    )
    monkeypatch.setattr(profiles, "PROFILES_DIR", folder)
    return folder


def test_layers_defaults_profile_config_environment(
    custom: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = load_settings(profile="testing")
    assert (s.risk.long_threshold, s.risk.stop_max_pct, s.risk.stop_min_pct) == (0.3, 8.0, 1.5)
    cfg = tmp_path / "my.toml"
    cfg.write_text("[risk]\nstop_max_pct = 6.0\n")
    s = load_settings(cfg, profile="testing")  # the file beats the profile, key by key
    assert (s.risk.long_threshold, s.risk.stop_max_pct) == (0.3, 6.0)
    monkeypatch.setenv("SEXTANT_RISK__STOP_MAX_PCT", "7.0")  # the environment beats the file
    assert load_settings(cfg, profile="testing").risk.stop_max_pct == 7.0


def test_profile_from_environment_dotenv_and_config_file(
    custom: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "my.toml"
    cfg.write_text('profile = "testing"\n')
    assert load_settings(cfg).profile == "testing"
    (Path.cwd() / ".env").write_text("SEXTANT_PROFILE=spec\n")
    assert load_settings(cfg).profile == "spec"  # .env beats the file's key
    monkeypatch.setenv("SEXTANT_PROFILE", "testing")
    assert load_settings(cfg).risk.long_threshold == 0.3  # the environment beats .env
    assert load_settings(cfg, profile="spec").profile == "spec"  # --profile beats them all


def test_unknown_profile_names_the_field(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    with pytest.raises(ConfigError, match=r"profile.*SEXTANT_PROFILE.*unknown profile 'nope'"):
        load_settings(profile="nope")
    monkeypatch.setenv("SEXTANT_PROFILE", "../spec")
    with pytest.raises(ConfigError, match="unknown profile"):
        load_settings()
    monkeypatch.delenv("SEXTANT_PROFILE")
    assert main(["run", "--once", "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err


def test_a_bad_value_in_a_profile_fails_at_start(custom: Path) -> None:
    (custom / "broken.toml").write_text("[risk]\nlong_threshold = 3\n")
    with pytest.raises(ConfigError, match=r"risk\.long_threshold"):
        load_settings(profile="broken")
    (custom / "typo.toml").write_text("[risks]\nlong_threshold = 0.3\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(profile="typo")


def test_profile_cli_lists_and_shows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "list"]) == 0
    out = capsys.readouterr().out
    for name in available_profiles():
        assert name in out
    assert main(["profile", "show", "spec"]) == 0
    out = capsys.readouterr().out
    assert "differ from the spec profile (0)" in out
    assert "0.643!" in out  # trend without OI and news leaves the spec's 35-45 % range
