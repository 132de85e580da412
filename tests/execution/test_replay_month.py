"""Paper broker + lifecycle on real bundled candles over March 2025, checked by hand.

Nine trades are entered at fixed hours on the real 1h candles (entry at the quote of that hour,
stop a fixed % away, TP1 at 1.5R and TP2 at 2.5R, sized to lose 150 USDT at the stop), then
the monitor walks the month hour by hour exactly as the replay loop does. The entries are
fixed here (not the strategy's signals) so that this test checks the execution rules alone
and does not move when the Risk Manager is tuned. Run with `-s` to see the trade list.
"""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from execution.prices import ReplayPriceFeed
from runtime.factory import build_engine
from sextant.config import load_settings
from sextant.config.market import BUNDLED_DATA_DIR
from tests.execution.helpers import signal, snapshot
from tools.market_data import csv_store
from tools.market_data.replay import load_market_rules

pytestmark = pytest.mark.anyio
D = Decimal
TRADES = [  # symbol, side, entry hour, stop distance %
    ("BTC/USDT:USDT", "long", "2025-03-02T12:00", "3"),
    ("ETH/USDT:USDT", "short", "2025-03-03T12:00", "4"),
    ("SOL/USDT:USDT", "long", "2025-03-05T00:00", "5"),
    ("DOGE/USDT:USDT", "short", "2025-03-09T00:00", "3"),
    ("XRP/USDT:USDT", "long", "2025-03-12T00:00", "2"),
    ("LTC/USDT:USDT", "long", "2025-03-15T00:00", "2"),
    ("ADA/USDT:USDT", "short", "2025-03-20T00:00", "3"),
    ("BTC/USDT:USDT", "short", "2025-03-24T00:00", "2.5"),
    ("BTC/USDT:USDT", "long", "2025-03-25T01:00", "4"),
]


def candles(symbol: str, start: str, end: str) -> pd.DataFrame:
    df = csv_store.read_frame(csv_store.ohlcv_path(BUNDLED_DATA_DIR, symbol, "1h"))
    return df.loc[start:end]


async def test_a_replayed_month_of_paper_trades(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")
    engine = build_engine(settings)
    await engine.start()
    rules = load_market_rules(BUNDLED_DATA_DIR)
    feed = ReplayPriceFeed(settings)
    for symbol, side, at, stop_pct in TRADES:
        t = datetime.fromisoformat(at).replace(tzinfo=UTC)
        await engine.advance(t)  # the monitor up to the entry hour, as the loop does
        m = rules[symbol]
        price = (await feed.prices([symbol], t))[symbol]  # the close of the last closed bar
        sign = 1 if side == "long" else -1
        r = price * D(stop_pct) / 100
        sig = signal(
            symbol, side, t, entry=str(price), stop=str(m.round_price(price - sign * r)),
            tp1=str(m.round_price(price + sign * r * D("1.5"))),
            tp2=str(m.round_price(price + sign * r * D("2.5"))),
            qty=str(m.round_amount(D(150) / r)), leverage=5,
        )
        act = await engine.execute([sig], as_of=t, cycle_id=f"c-{at}",
                                   snapshots={symbol: snapshot(m, float(price), t)})
        assert act.intents[0].status == "filled"
    await engine.advance(datetime(2025, 4, 1, tzinfo=UTC))
    await engine.aclose()

    positions = engine.store.positions()
    fills = engine.store.fills()
    print("\nMarch 2025, paper, real bundled candles:")
    for p in positions:
        print(f"{p.position_id:<22} {p.side:<5} {p.entry_price:>10} -> {p.exit_reason:<15} "
              f"{p.closed_at:%m-%d %H:%M}  realised {p.realized_pnl:>+9.2f}  fees "
              f"{p.fees_paid:.2f}  funding {p.funding_paid:+.4f}")
        for f in (f for f in fills if f.position_id == p.position_id and f.kind == "exit"):
            print(f"    {f.time:%m-%d %H:%M} {f.reason:<15} {f.quantity:>8} @ {f.price}")
    by_id = {p.position_id: p for p in positions}
    exits = {p.position_id: [f.reason for f in fills
                             if f.position_id == p.position_id and f.kind == "exit"]
             for p in positions}
    assert exits == {
        "sx-25030212-BTC-L": ["tp1", "tp2"],
        "sx-25030312-ETH-S": ["tp1", "tp2"],
        "sx-25030500-SOL-L": ["breakeven_stop"],
        "sx-25030900-DOGE-S": ["tp1", "tp2"],
        "sx-25031200-XRP-L": ["tp1", "trailing_stop"],
        "sx-25031500-LTC-L": ["tp1", "trailing_stop"],
        "sx-25032000-ADA-S": ["breakeven_stop"],
        "sx-25032400-BTC-S": ["stop_loss"],
        "sx-25032501-BTC-L": ["stale_exit"],
    }
    assert all(p.status == "closed" for p in positions)

    # --- by hand 1: SOL long, breakeven stop ---------------------------------------------
    # entry: ask = the 23:00 bar's close 144.70 + 0.05 % = 144.77235 -> 0.01 tick up: 144.78
    sol = by_id["sx-25030500-SOL-L"]
    assert sol.entry_price == D("144.78") and sol.initial_stop == D("137.47")  # 144.70 - 5 %
    bars = candles("SOL/USDT:USDT", "2025-03-05 00:00", "2025-03-05 13:00")
    # +2.5 % = 144.78 x 1.025 = 148.3995 is first reached by the 10:00 bar (high 149.66): at
    # its close the stop goes to 144.78 x 1.0015 = 144.99717 -> 144.99 (floored)
    assert bars.loc[:"2025-03-05 09:00", "high"].max() < 148.3995 <= bars.loc[
        "2025-03-05 10:00", "high"]
    assert sol.stop_loss == D("144.99")
    # 11:00 and 12:00 stay above (lows 146.76, 146.03); the 13:00 bar (open 146.67) falls to
    # 143.12: stopped at 144.99 at market, less 0.05 % slippage = 144.917505 -> 144.91
    assert bars.loc["2025-03-05 11:00":"2025-03-05 12:00", "low"].min() > 144.99
    assert bars.loc["2025-03-05 13:00", "low"] <= 144.99 < bars.loc["2025-03-05 13:00", "open"]
    [sol_exit] = [f for f in fills if f.position_id == sol.position_id and f.kind == "exit"]
    assert (sol_exit.price, sol_exit.time.hour) == (D("144.91"), 14)
    assert sol_exit.pnl == D("2.691")  # (144.91 - 144.78) x 20.7
    assert bars["high"].max() < float(sol.take_profit_1)  # TP1 155.55 was never in reach

    # --- by hand 2: XRP long, TP1 then the 2 % trailing stop --------------------------------
    # entry: 2.1700 + 0.05 % = 2.171085 -> 2.1711; stop 2.1266, TP1 2.2351 (1.5R of 0.0434)
    xrp = by_id["sx-25031200-XRP-L"]
    assert (xrp.entry_price, xrp.take_profit_1) == (D("2.1711"), D("2.2351"))
    bars = candles("XRP/USDT:USDT", "2025-03-12 00:00", "2025-03-12 02:00")
    # the 01:00 bar (open 2.1799, below TP1: no gap) reaches 2.2449 >= 2.2351: half (1728)
    # closes at TP1, a conditional market order: 2.2351 less 0.05 % slippage = 2.23398245 ->
    # 2.2339 (floored to the 0.0001 tick), taker fee 0.055 % of 1728 x 2.2339 = 2.12309856
    tp1, trail = [f for f in fills if f.position_id == xrp.position_id and f.kind == "exit"]
    assert bars.loc["2025-03-12 01:00", "high"] == 2.2449
    assert bars.loc["2025-03-12 01:00", "open"] < 2.2351
    assert (tp1.quantity, tp1.price, tp1.time.hour) == (D("1728"), D("2.2339"), 2)
    assert tp1.fee == D("2.12309856")
    assert tp1.pnl == D("108.5184")  # (2.2339 - 2.1711) x 1728
    # then the stop trails the best price 2.2449 by 2 %: 2.200002 -> 2.2000 (floored); the
    # 02:00 bar opens at 2.2284 and dips to 2.1876: out at 2.2000 less slippage = 2.1989
    assert xrp.stop_loss == D("2.2000")
    assert bars.loc["2025-03-12 02:00", "low"] <= 2.2 < bars.loc["2025-03-12 02:00", "open"]
    assert (trail.price, trail.time.hour) == (D("2.1989"), 3)
    assert trail.pnl == D("48.0384")  # (2.1989 - 2.1711) x 1728

    # --- by hand 3: BTC short, initial stop-loss --------------------------------------------
    # entry: bid 86044.2 - 0.05 % = 86001.1779 -> 0.1 tick down: 86001.1; stop 86044.2 +
    # 2.5 % = 88195.305 -> 88195.3. Breakeven would need 86001.1 x 0.975 = 83851.07: the
    # lows never go below 85478.3. The 14:00 bar opens 87652.4 and spikes to 88752.0.
    btc = by_id["sx-25032400-BTC-S"]
    assert (btc.entry_price, btc.initial_stop) == (D("86001.1"), D("88195.3"))
    bars = candles("BTC/USDT:USDT", "2025-03-24 00:00", "2025-03-24 14:00")
    assert bars["low"].min() > 83851.07
    assert bars.loc[:"2025-03-24 13:00", "high"].max() < 88195.3 <= bars.loc[
        "2025-03-24 14:00", "high"]
    [stop] = [f for f in fills if f.position_id == btc.position_id and f.kind == "exit"]
    # bought back at 88195.3 + 0.05 % = 88239.39765 -> 88239.4 (rounded against us)
    assert (stop.price, stop.time.hour) == (D("88239.4"), 15)
    assert stop.pnl == D("-154.44270")  # (86001.1 - 88239.4) x 0.069

    # --- by hand 4: BTC long, stale after 48 h ------------------------------------------------
    # entry 87556.5 + 0.05 % = 87600.27825 -> 87600.3 on 03-25 01:00; for 48 h the high stays
    # under +2.5 % (no breakeven) and the low above the 4 % stop; the bar closing 03-27 01:00
    # closes at 87239.0, -0.41 % < +1 %: closed at market 87239.0 - 0.05 % = 87195.3805 -> .3
    stale = by_id["sx-25032501-BTC-L"]
    assert stale.entry_price == D("87600.3")
    bars = candles("BTC/USDT:USDT", "2025-03-25 01:00", "2025-03-27 00:00")
    assert bars["high"].max() < 87600.3 * 1.025 and bars["low"].min() > float(stale.initial_stop)
    [out] = [f for f in fills if f.position_id == stale.position_id and f.kind == "exit"]
    assert (out.reason, out.time, out.price) == (
        "stale_exit", datetime(2025, 3, 27, 1, tzinfo=UTC), D("87195.3"))

    # funding was charged every 8 h to what was open (the data's real rates)
    assert engine.store.funding()
    assert engine.equity() == engine.starting_equity() + sum(
        (p.net_pnl for p in positions), D(0))
