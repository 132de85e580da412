"""Token and cost accounting: per call, per node, per cycle (the `llm` block of the JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage

from sextant.config.llm import LLMSettings
from sextant.models import Reason

USAGE_KEYS = ("calls", "cached", "tokens_in", "tokens_out", "cost_usd")


@dataclass
class Usage:
    calls: int = 0
    cached: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    reasons: list[Reason] = field(default_factory=list)

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.cached += other.cached
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.cost_usd += other.cost_usd
        self.reasons.extend(other.reasons)

    def as_update(self) -> dict[str, Any]:
        """The partial state update of a node (summed across branches by the state reducer)."""
        return {
            "calls": self.calls,
            "cached": self.cached,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class CallCost:
    tokens_in: int
    tokens_out: int
    cost_usd: float
    source: str  # "server" (reported by OpenRouter) or "table" (settings' price table)


def call_cost(message: AIMessage, model: str, settings: LLMSettings) -> CallCost:
    """Tokens and USD of one answer: the server's reported cost, else the price table's."""
    meta = message.usage_metadata or {}
    tokens_in = int(meta.get("input_tokens") or 0)
    tokens_out = int(meta.get("output_tokens") or 0)
    token_usage = (message.response_metadata or {}).get("token_usage") or {}
    if not tokens_in and not tokens_out:
        tokens_in = int(token_usage.get("prompt_tokens") or 0)
        tokens_out = int(token_usage.get("completion_tokens") or 0)
    reported = token_usage.get("cost")
    if isinstance(reported, int | float) and not isinstance(reported, bool) and reported >= 0:
        return CallCost(tokens_in, tokens_out, float(reported), "server")
    price = settings.price_of(model)
    return CallCost(tokens_in, tokens_out, price.cost(tokens_in, tokens_out), "table")


def llm_block(usage: dict[str, Any] | None) -> dict[str, Any]:
    """The cycle's `llm` block: calls, cached, tokens_in, tokens_out, cost_usd, reasons."""
    usage = usage or {}
    reasons = [
        r.model_dump(mode="json") if isinstance(r, Reason) else r for r in usage.get("reasons", [])
    ]
    return {
        "calls": int(usage.get("calls", 0)),
        "cached": int(usage.get("cached", 0)),
        "tokens_in": int(usage.get("tokens_in", 0)),
        "tokens_out": int(usage.get("tokens_out", 0)),
        "cost_usd": round(float(usage.get("cost_usd", 0.0)), 6),
        "reasons": reasons,
    }
