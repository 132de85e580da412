"""Web dashboard settings: where it listens, who may act, what it shows (SEXTANT_DASHBOARD__*).

Read-only unless a token is configured: there is no default token, and without one every action
(closing a position) is refused. The token travels in the `Authorization: Bearer` header only,
never in a cookie, so another site cannot make a browser act on the user's behalf (CSRF).
"""

import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from sextant.config.base import Section

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DashboardSettings(Section):
    enabled: bool = Field(
        False,
        description="`sextant loop` also serves the dashboard (`sextant dashboard` always does).",
    )
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address to listen on. Keep 127.0.0.1 unless a TLS proxy is in front; "
        "0.0.0.0 inside a container whose port is published on the host's 127.0.0.1.",
    )
    port: int = Field(8787, ge=0, le=65535, description="TCP port (0 = any free port).")
    token: SecretStr | None = Field(
        None,
        description="Bearer token that allows actions (closing positions). No default: without "
        f"it the dashboard is read-only. At least {MIN_TOKEN_CHARS} characters.",
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Host names the dashboard answers to besides the loopback names and `host` "
        "(comma-separated; '*' = any). Refusing other Host headers defeats DNS rebinding.",
    )
    reports_dir: Path | None = Field(
        None,
        description="Folder whose sub-folders are backtest reports (sextant backtest --report); "
        "empty = <state_dir>/reports.",
    )
    refresh_s: float = Field(
        15, ge=1, le=3600, description="Pages refresh their numbers this often."
    )
    cycles_shown: int = Field(
        12, ge=1, le=500, description="Most recent cycles whose signals the dashboard lists."
    )
    exits_shown: int = Field(50, ge=1, le=5000, description="Most recent exits listed.")

    @field_validator("token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @property
    def actions_enabled(self) -> bool:
        return self.token is not None

    def reports_folder(self, state_dir: Path) -> Path:
        return self.reports_dir if self.reports_dir is not None else Path(state_dir) / "reports"
