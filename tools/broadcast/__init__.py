"""Broadcasters: where posts about signals go (Telegram when configured, else the console).

port.py        the Broadcaster protocol and its events (what the graph and the loop call)
publisher.py   the engine both use: outbox, dedup, schedules, rate limit, retries, exactly once
telegram.py    python-telegram-bot transport, TelegramBroadcaster, make_broadcaster(settings)
console.py     ConsoleBroadcaster: the same posts, printed
commands.py    /status /positions /stats /pulse by long polling (started by `sextant loop`)
formatting.py  the posts as Telegram HTML (every dynamic text escaped) and their plain twins
charts.py      the entry chart (matplotlib, headless)
store.py       the broadcaster's tables in the shared SQLite database
stats.py, schedule.py, status.py, render.py: pure helpers
"""
