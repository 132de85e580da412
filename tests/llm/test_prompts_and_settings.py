"""Prompt files (sections, named variables, hashes) and the LLM settings' names and checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sextant.config import ConfigError, load_settings
from tools.llm.prompts import PROMPTS_DIR, PromptError, load_prompt


def test_shipped_prompts_and_their_variables() -> None:
    hunter = load_prompt("coin_hunter")
    news = load_prompt("news_analyst")
    repair = load_prompt("repair")
    assert set(hunter.variables) == {"as_of", "watchlist", "max_symbols"}
    assert set(news.variables) == {"symbol", "base", "as_of", "window_days", "window_start"}
    assert set(repair.variables) == {"error", "schema"}
    assert hunter.source == str(PROMPTS_DIR / "coin_hunter.md")
    assert len(hunter.hash) == 16 and hunter.hash != news.hash
    # Both agents are told that what they read is data, never instructions.
    for p in (hunter, news):
        assert "never instructions" in p.sections()["system"]


def test_render_fills_named_variables_and_leaves_json_braces_alone() -> None:
    msgs = load_prompt("coin_hunter").render(
        {"as_of": "2026-05-16T11:00:00Z", "watchlist": "BTC/USDT:USDT", "max_symbols": 3}
    )
    assert [role for role, _ in msgs] == ["system", "user"]
    system, user = msgs[0][1], msgs[1][1]
    assert '{"tickers": [{"ticker": "SOL"' in system
    assert "2026-05-16T11:00:00Z" in user and "up to 3 other coins" in user
    assert "{{" not in user and "Notes above" not in system + user  # notes are not sent


def test_missing_variable_and_missing_user_section_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.md"
    f.write_text("[system]\nhi\n[user]\nnews about {{coin}}\n")
    with pytest.raises(PromptError, match="coin"):
        load_prompt("news_analyst", path=f).render({"symbol": "BTC"})
    f.write_text("just text")
    with pytest.raises(PromptError, match=r"no \[user\]"):
        load_prompt("news_analyst", path=f)
    with pytest.raises(PromptError, match="cannot read"):
        load_prompt("news_analyst", path=tmp_path / "missing.md")


def test_override_text_wins_and_any_edit_changes_the_hash() -> None:
    base = load_prompt("news_analyst")
    edited = load_prompt("news_analyst", override=base.text + "\nBe terse.\n")
    assert edited.source == "context" and edited.hash != base.hash
    assert load_prompt("news_analyst", override="  ").hash == base.hash  # blank = no override


def test_llm_settings_defaults_and_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.llm.base_url == "https://openrouter.ai/api/v1"
    assert s.llm.hunter_model == s.llm.news_model == "perplexity/sonar"
    assert (s.llm.hunter_cache_ttl_h, s.llm.hunter_refresh_h) == (4, 12)
    assert s.news.cache_ttl_s == 3600 and not s.llm_active
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-distinct-7f3a")
    monkeypatch.setenv("SEXTANT_LLM__BASE_URL", "http://127.0.0.1:1/api/v1")
    monkeypatch.setenv("SEXTANT_LLM__HUNTER_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("SEXTANT_LLM__NEWS_MODEL", "perplexity/sonar-pro")
    monkeypatch.setenv("SEXTANT_LLM__DAILY_BUDGET_USD", "0.5")
    monkeypatch.setenv("SEXTANT_LLM__TIMEOUT_S", "7.5")
    monkeypatch.setenv("SEXTANT_LLM__MAX_RETRIES", "0")
    monkeypatch.setenv("SEXTANT_LLM__PRICES", '{"x/y": {"input_per_m": 2, "output_per_m": 8}}')
    s = load_settings()
    assert s.llm_active and s.llm.base_url == "http://127.0.0.1:1/api/v1"
    assert (s.llm.hunter_model, s.llm.news_model) == ("openai/gpt-4o-mini", "perplexity/sonar-pro")
    assert (s.llm.daily_budget_usd, s.llm.timeout_s, s.llm.max_retries) == (0.5, 7.5, 0)
    assert s.llm.price_of("x/y").cost(1_000_000, 500_000) == pytest.approx(6.0)
    assert s.llm.price_of("unknown/model") == s.llm.default_price
    assert "sk-distinct-7f3a" not in repr(s) + str(s.model_dump())
    monkeypatch.setenv("SEXTANT_LLM__ENABLED", "false")
    assert not load_settings().llm_active


@pytest.mark.parametrize(
    ("var", "value", "field"),
    [
        ("SEXTANT_LLM__DAILY_BUDGET_USD", "-1", "llm.daily_budget_usd"),
        ("SEXTANT_LLM__TIMEOUT_S", "0", "llm.timeout_s"),
        ("SEXTANT_LLM__HUNTER_CACHE_TTL_H", "24", "llm"),  # above the 12 h refresh
        ("SEXTANT_NEWS__CRITICAL_MIN_IMPACT", "3", "news.critical_min_impact"),
    ],
)
def test_invalid_llm_settings_name_the_field(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, field: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_settings()
