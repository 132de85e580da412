"""LangGraph wiring: typed state, the run context, routing. Logic lives in agents/ and sextant/."""
