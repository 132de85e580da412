"""News Analyst node, one branch per eligible symbol (LangGraph Send).

Offline fallback (no LLM key): news is unavailable; its weight goes to the other components.
"""

from langgraph.runtime import Runtime

from graph.context import Context, settings_of
from graph.state import NewsTask
from sextant.models import NewsAssessment, Reason
from sextant.reasons import Code


def offline_assessment(symbol: str, why: str) -> NewsAssessment:
    return NewsAssessment(
        symbol=symbol,
        available=False,
        reasons=[Reason(code=Code.NEWS_UNAVAILABLE, message=why)],
        source="offline",
    )


def news_analyst(task: NewsTask, runtime: Runtime[Context]) -> dict:
    settings = settings_of(runtime.context)
    if not settings.has_llm_key:
        why = "no OPENROUTER_API_KEY: news unavailable (offline fallback)"
    else:
        why = "news analysis is not enabled in this build (offline fallback)"
    return {"news": {task["symbol"]: offline_assessment(task["symbol"], why)}}
