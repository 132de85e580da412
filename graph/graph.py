"""The Sextant cycle as a LangGraph StateGraph. Wiring only."""

from langgraph.graph import END, START, StateGraph

from agents.broadcaster import broadcaster
from agents.coin_hunter import coin_hunter
from agents.data_collector import collect_hunted, data_collector
from agents.execution import execution
from agents.math_engine import math_engine
from agents.news_analyst import news_analyst
from agents.prepare import prepare
from agents.risk_manager import risk_manager
from graph.context import Context
from graph.routing import route_after_risk, route_to_news
from graph.state import CycleState, InputState


def build_graph() -> StateGraph:
    """The uncompiled builder: callers compile it with or without a checkpointer."""
    g = StateGraph(CycleState, context_schema=Context, input_schema=InputState)
    g.add_node("prepare", prepare)
    g.add_node("coin_hunter", coin_hunter)
    g.add_node("data_collector", data_collector)
    g.add_node("collect_hunted", collect_hunted)
    g.add_node("news_analyst", news_analyst)
    g.add_node("math_engine", math_engine)
    g.add_node("risk_manager", risk_manager)
    g.add_node("execution", execution)
    g.add_node("broadcaster", broadcaster)

    # The cycle's time and symbols are resolved once; then the Hunter and the Collector run
    # in parallel and collect_hunted joins them.
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "coin_hunter")
    g.add_edge("prepare", "data_collector")
    g.add_edge(["coin_hunter", "data_collector"], "collect_hunted")
    g.add_conditional_edges("collect_hunted", route_to_news, ["news_analyst", "math_engine"])
    g.add_edge("news_analyst", "math_engine")
    g.add_edge("math_engine", "risk_manager")
    g.add_conditional_edges("risk_manager", route_after_risk, ["execution", "broadcaster"])
    g.add_edge("execution", "broadcaster")
    g.add_edge("broadcaster", END)
    return g


# Exported for `langgraph dev` / Studio: compiled without a checkpointer (the server adds its own).
graph = build_graph().compile()
graph.name = "sextant"
