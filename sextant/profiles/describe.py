"""What a profile is and what it changes: for `sextant profile list|show` and the docs."""

from typing import Any

from sextant.profiles import profile_path


def summary(name: str) -> str:
    """The profile's one-line description: its file's first comment line."""
    for line in profile_path(name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def changes(settings: Any, reference: Any) -> list[tuple[str, Any, Any]]:
    """(dotted field, reference value, value) for every setting that differs, secrets and
    the profile name left out."""
    skip = {"profile", "openrouter_api_key", "bybit_api_key", "bybit_api_secret",
            "telegram_bot_token", "telegram_chat_id"}
    mine = _flat(settings.model_dump(mode="json", exclude=skip))
    theirs = _flat(reference.model_dump(mode="json", exclude=skip))
    return [(k, theirs.get(k), v) for k, v in sorted(mine.items()) if theirs.get(k) != v]
