"""Routing functions: each declares its destinations in its return type."""

from typing import Literal

from langgraph.types import Send

from graph.state import CycleState, NewsTask


def route_to_news(state: CycleState) -> list[Send] | Literal["math_engine"]:
    """One News Analyst branch per eligible symbol and per held one (an open position's news
    close matters most when its market turned ineligible); straight to the maths if none."""
    universe = state.get("universe", {})
    snaps = state.get("snapshots", {})
    sends = [
        Send(
            "news_analyst",
            NewsTask(
                symbol=s,
                as_of=state["as_of"],
                snapshot=snaps.get(s),
                cycle_id=state.get("cycle_id"),
            ),  # type: ignore[typeddict-item]
        )
        for s, u in sorted(universe.items())
        if (u.eligible and s in snaps) or u.held
    ]
    return sends or "math_engine"


def route_after_risk(state: CycleState) -> Literal["execution", "broadcaster"]:
    """The WAIT branch and the news veto skip execution: nothing to do there, unless news or a
    signal reversal asks to close a held position."""
    actionable = any(s.decision != "WAIT" for s in state.get("signals", []))
    news_exits = any(n.close_longs or n.close_shorts for n in state.get("news", {}).values())
    exits = news_exits or bool(state.get("reversal_exits"))
    return "execution" if actionable or exits else "broadcaster"
