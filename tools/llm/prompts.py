"""Prompt files: loading, hashing and rendering with named variables.

A prompt file lives in `prompts/` (the only home of prompt text) and looks like::

    Notes for humans (not sent). Variables: {{as_of}} ...
    [system]
    The system message, with {{named}} variables.
    [user]
    The user message.

Lines before the first `[system]` / `[user]` marker are notes. Variables are `{{name}}`;
rendering refuses a variable that is not supplied. The hash is over the whole file text, so any
edit (notes included) makes a new prompt version; every answer records it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sextant.errors import PromptError

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
HUNTER = "coin_hunter"
NEWS = "news_analyst"
REPAIR = "repair"
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_MARKER = re.compile(r"^\[(system|user)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str
    source: str  # a file path, or "context" for a Studio override

    @property
    def hash(self) -> str:
        return prompt_hash(self.text)

    def sections(self) -> dict[str, str]:
        parts = _MARKER.split(self.text)
        # parts = [notes, role, body, role, body, ...]
        out: dict[str, str] = {}
        for role, body in zip(parts[1::2], parts[2::2], strict=True):
            if role in out:
                raise PromptError(f"prompt {self.name}: section [{role}] appears twice")
            out[role] = body.strip()
        if not out.get("user"):
            raise PromptError(f"prompt {self.name} ({self.source}): no [user] section")
        return out

    @property
    def variables(self) -> list[str]:
        seen: list[str] = []
        for body in self.sections().values():
            for name in _VAR.findall(body):
                if name not in seen:
                    seen.append(name)
        return seen

    def render(self, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """[(role, text)] with every {{variable}} replaced; a missing one is a PromptError."""
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise PromptError(
                f"prompt {self.name} ({self.source}) uses {missing} but only "
                f"{sorted(values)} are supplied"
            )

        def sub(m: re.Match[str]) -> str:
            return str(values[m.group(1)])

        sections = self.sections()
        return [
            (role, _VAR.sub(sub, sections[role])) for role in ("system", "user") if role in sections
        ]


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_prompt(name: str, *, override: str | None = None, path: Path | None = None) -> Prompt:
    """The prompt `name`: a Studio override text, else `path`, else `prompts/<name>.md`."""
    if override is not None and override.strip():
        prompt = Prompt(name=name, text=override, source="context")
    else:
        file = Path(path) if path is not None else PROMPTS_DIR / f"{name}.md"
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PromptError(f"cannot read prompt file {file}: {exc.strerror or exc}") from None
        prompt = Prompt(name=name, text=text, source=str(file))
    prompt.sections()  # fail early on a file without a [user] section
    return prompt
