"""The ports: what the core and the graph need from the outside world, as Protocols with
written contracts. Adapters live in `tools/` (market data, LLM, broadcasters) and
`execution/` (brokers); the runtime picks one of each from the settings.

* `market_data.MarketDataPort`: snapshots at a time (replay or Bybit);
* `prices.PriceFeed`: bars, last prices and funding for the position monitor;
* `broker.Broker`: entries, lifecycle steps and reconciliation (paper or Bybit);
* `llm.LLMPort`: one model question, parsed, validated and taped;
* `broadcaster.Broadcaster`: posts of a cycle and of the monitor (console or Telegram).
"""
