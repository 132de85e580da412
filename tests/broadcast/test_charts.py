"""One entry chart of real bundled candles, rendered headless into the test output."""

import asyncio
import struct
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sextant.config import load_settings
from tools.broadcast.charts import HEIGHT_PX, WIDTH_PX, render_chart
from tools.market_data.replay import ReplayMarketData

AS_OF = datetime(2026, 5, 16, 11, tzinfo=UTC)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    crc = struct.unpack(">I", data[29:33])[0]
    assert zlib.crc32(data[12:29]) & 0xFFFFFFFF == crc, "IHDR checksum"
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", "truncated PNG"
    return struct.unpack(">II", data[16:24])


def test_chart_of_real_bundled_candles(tmp_path: Path, test_output: Path) -> None:
    market = ReplayMarketData(load_settings())
    result = asyncio.run(market.collect(["ETH/USDT:USDT"], AS_OF))
    frame = result.snapshots["ETH/USDT:USDT"].candles["1h"]
    assert frame.last_close_time == AS_OF  # real closed bars up to the signal, nothing after

    png = render_chart(
        frame.df,
        symbol="ETH/USDT:USDT",
        timeframe="1h",
        side="short",
        entry=Decimal("2172.77"),
        stop_loss=Decimal("2251.73"),
        take_profit_1=Decimal("2054.33"),
        take_profit_2=Decimal("1975.37"),
        bars=96,
    )
    for folder in (tmp_path, test_output):
        (folder / "entry-chart-ETHUSDT-1h.png").write_bytes(png)
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX)
    assert 15_000 < len(png) < 1_000_000  # a real picture, far under Telegram's 10 MB

    import matplotlib.image

    pixels = matplotlib.image.imread(tmp_path / "entry-chart-ETHUSDT-1h.png")
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    assert len({tuple(p) for p in pixels[::7, ::7].reshape(-1, pixels.shape[2])}) > 20
