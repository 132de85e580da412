"""Dashboard and service settings: safe defaults, validated, secrets kept out of the logs; the
rotating log file."""

import logging
from pathlib import Path

import pytest

from sextant.config import ConfigError, load_settings
from sextant.logfile import add_log_file, remove_log_file
from sextant.logs import setup_logging


def test_defaults_are_local_read_only_and_off() -> None:
    s = load_settings()
    d = s.dashboard
    assert (d.enabled, d.host, d.port, d.token) == (False, "127.0.0.1", 8787, None)
    assert not d.actions_enabled
    assert d.reports_folder(s.state_dir) == s.state_dir / "reports"
    assert s.service.log_file is None


def test_a_short_token_or_a_bad_port_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEXTANT_DASHBOARD__TOKEN", "short")
    with pytest.raises(ConfigError, match="SEXTANT_DASHBOARD__TOKEN"):
        load_settings()
    monkeypatch.setenv("SEXTANT_DASHBOARD__TOKEN", "   ")
    assert load_settings().dashboard.token is None  # blank = none: read-only
    monkeypatch.setenv("SEXTANT_DASHBOARD__PORT", "70000")
    with pytest.raises(ConfigError, match="SEXTANT_DASHBOARD__PORT"):
        load_settings()


def test_allowed_hosts_split_and_the_token_never_reaches_a_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = "the-dashboard-token-0123456789"
    monkeypatch.setenv("SEXTANT_DASHBOARD__TOKEN", token)
    monkeypatch.setenv("SEXTANT_DASHBOARD__ALLOWED_HOSTS", "bot.example.com, 10.0.0.5")
    s = load_settings()
    assert s.dashboard.allowed_hosts == ("bot.example.com", "10.0.0.5")
    assert token not in repr(s)
    setup_logging(0)
    handler = add_log_file(tmp_path / "x.log", 10_000, 1)
    try:
        logging.getLogger("sextant.test").warning("token is %s", token)
    finally:
        remove_log_file(handler)
    text = (tmp_path / "x.log").read_text()
    assert "token is ***" in text and token not in text


def test_the_log_file_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "sextant.log"
    handler = add_log_file(path, max_bytes=10_000, backups=2)
    assert add_log_file(path, 10_000, 2) is handler  # once per path
    log = logging.getLogger("sextant.test.rotation")
    try:
        for i in range(400):
            log.warning("line %04d %s", i, "x" * 80)
    finally:
        remove_log_file(handler)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["sextant.log", "sextant.log.1", "sextant.log.2"]
    assert all(p.stat().st_size <= 10_000 for p in path.parent.iterdir())
    assert "line 0399" in path.read_text()  # the newest lines in the live file


def test_an_unwritable_log_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="SEXTANT_SERVICE__LOG_FILE"):
        add_log_file(blocker / "sub" / "sextant.log", 10_000, 1)
