"""I/O at the edges: market-data adapters, LLM helpers, caches. Nothing here knows LangGraph."""
