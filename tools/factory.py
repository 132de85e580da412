"""The adapters of the settings: market data (replay or Bybit), the LLM service, a broadcaster.

One builder per port, so the runtime (`runtime.services`) and Studio's fallback
(`graph.context.studio_services`) construct them the same way. Imports are local: a command
that needs no LLM never loads langchain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sextant.clock import Clock
from sextant.config import Settings
from sextant.ports.broadcaster import Broadcaster, StatusProvider
from sextant.ports.market_data import MarketDataPort

if TYPE_CHECKING:
    from tools.llm.service import LLMService


def make_market(settings: Settings) -> MarketDataPort:
    if settings.market.source == "bybit":
        from tools.market_data.bybit import BybitMarketData

        return BybitMarketData(settings)
    from tools.market_data.replay import ReplayMarketData, check_data_dir

    check_data_dir(settings.market.data_dir)
    return ReplayMarketData(settings)


def make_llm(settings: Settings, clock: Clock, *, force: bool = False) -> LLMService | None:
    """The LLM service, or None offline: no key, or disabled (`force`: even when disabled,
    for a command that asks a model explicitly; the key is still needed)."""
    if not (settings.llm_active or (force and settings.has_llm_key)):
        return None
    from tools.llm.service import LLMService

    return LLMService(settings, clock)


def make_broadcaster(
    settings: Settings, *, status: StatusProvider | None = None, quiet: bool = False
) -> Broadcaster:
    """Telegram when TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are set, else the console (both
    keep their outbox in the state database); `quiet`: no console posts at all."""
    from tools.broadcast import telegram

    if quiet and not telegram.telegram_configured(settings):
        from tools.broadcast.console import SilentBroadcaster

        return SilentBroadcaster()
    return telegram.make_broadcaster(settings, status=status)
