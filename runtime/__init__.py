"""The runtime: services built once, the compiled graph, the trading hour, the loop, the lock."""
