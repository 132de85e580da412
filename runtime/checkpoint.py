"""The graph's SQLite checkpointer: one thread per cycle (thread id = cycle id).

`<state_dir>/checkpoints.db` sits beside the main database. LangGraph writes a checkpoint after
every super-step, so a cycle killed mid-way resumes from its last finished node.

The cycle state carries market snapshots (up to 1000 1h, 500 4h and 300 1d bars per symbol).
LangGraph's default serializer stores pydantic models as `model_dump()`: the candle frames
become lists of Python floats, ~8 MB and ~0.25 s per cycle. `CheckpointSerde` packs
snapshots' candles as raw float64/int64 arrays instead (same values, bit for bit), allows
exactly Sextant's own state types on load (no "unregistered type" warnings, nothing else
is imported), and keeps Decimal and datetime exact. Old cycles' threads are pruned.
"""

import dataclasses
import inspect
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np
import ormsgpack
import pandas as pd
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer, _msgpack_default, _option
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.types import Send
from pydantic import BaseModel

from sextant.models import OHLCV_COLUMNS, CandleFrame, MarketSnapshot
from tools.db import check_database_file, ensure_state_dir, state_error

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "checkpoints.db"
EXT_SNAPSHOT = 100  # our own msgpack extension codes (LangGraph's go up to 7)
EXT_SEND = 101  # a Send packet, packed with our encoder (its payload holds a snapshot)
TYPE_TAG = "sx-msgpack"
STATE_MODULES = (
    "sextant.models",
    "sextant.math_engine.models",
    "sextant.positions",
    "sextant.events",
)


def state_types() -> list[tuple[str, str]]:
    """(module, name) of every pydantic model and dataclass the cycle state may hold."""
    import importlib

    out: list[tuple[str, str]] = []
    for name in STATE_MODULES:
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if not inspect.isclass(obj) or obj.__module__ != name:
                continue
            if issubclass(obj, BaseModel) or dataclasses.is_dataclass(obj):
                out.append((name, attr))
    return sorted(out)


def _pack_snapshot(snap: MarketSnapshot) -> dict[str, Any]:
    candles = {}
    for tf, cf in snap.candles.items():
        df = cf.df
        values = np.ascontiguousarray(df[OHLCV_COLUMNS].to_numpy(dtype="float64"))
        candles[tf] = {
            "symbol": cf.symbol,
            "t": np.ascontiguousarray(df.index.asi8, dtype="int64").tobytes(),
            "v": values.tobytes(),
            "n": len(df),
        }
    return {"snapshot": snap.model_dump(exclude={"candles"}), "candles": candles}


def _unpack_snapshot(payload: dict[str, Any]) -> MarketSnapshot:
    candles = {}
    for tf, c in payload["candles"].items():
        idx = pd.DatetimeIndex(np.frombuffer(c["t"], dtype="int64").astype("datetime64[ns]"))
        values = np.frombuffer(c["v"], dtype="float64").reshape(c["n"], len(OHLCV_COLUMNS))
        df = pd.DataFrame(values.copy(), index=idx.tz_localize("UTC"), columns=OHLCV_COLUMNS)
        candles[tf] = CandleFrame(symbol=c["symbol"], timeframe=tf, df=df)
    return MarketSnapshot.model_validate({**payload["snapshot"], "candles": candles})


class CheckpointSerde(JsonPlusSerializer):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allowed_msgpack_modules", state_types())
        super().__init__(**kwargs)
        # A cycle's snapshots are the same (frozen) objects in every checkpoint of the cycle:
        # pack each once. Keyed by id() with the object held, so an id is never reused.
        self._packed: OrderedDict[int, tuple[MarketSnapshot, bytes]] = OrderedDict()

    def _snapshot_bytes(self, snap: MarketSnapshot) -> bytes:
        hit = self._packed.get(id(snap))
        if hit is not None and hit[0] is snap:
            self._packed.move_to_end(id(snap))
            return hit[1]
        data = self._pack(_pack_snapshot(snap))
        self._packed[id(snap)] = (snap, data)
        while len(self._packed) > 256:
            self._packed.popitem(last=False)
        return data

    def _default(self, obj: Any) -> Any:
        if isinstance(obj, MarketSnapshot):
            return ormsgpack.Ext(EXT_SNAPSHOT, self._snapshot_bytes(obj))
        if isinstance(obj, Send):
            return ormsgpack.Ext(EXT_SEND, self._pack([obj.node, obj.arg, obj.timeout]))
        return _msgpack_default(obj)

    def _pack(self, obj: Any) -> bytes:
        return ormsgpack.packb(obj, default=self._default, option=_option)

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == EXT_SNAPSHOT:
            payload = ormsgpack.unpackb(
                data, ext_hook=self._ext_hook, option=ormsgpack.OPT_NON_STR_KEYS
            )
            return _unpack_snapshot(payload)
        if code == EXT_SEND:
            node, arg, timeout = ormsgpack.unpackb(
                data, ext_hook=self._ext_hook, option=ormsgpack.OPT_NON_STR_KEYS
            )
            return Send(node, arg) if timeout is None else Send(node, arg, timeout=timeout)
        return self._unpack_ext_hook(code, data)

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if obj is None or isinstance(obj, bytes | bytearray):
            return super().dumps_typed(obj)
        return TYPE_TAG, self._pack(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        if data[0] == TYPE_TAG:
            return ormsgpack.unpackb(
                data[1], ext_hook=self._ext_hook, option=ormsgpack.OPT_NON_STR_KEYS
            )
        return super().loads_typed(data)


@asynccontextmanager
async def open_checkpointer(state_dir: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """The loop's checkpoint database; one it cannot open or set up is a StateError (exit 3)."""
    ensure_state_dir(Path(state_dir))
    path = Path(state_dir) / CHECKPOINT_FILE
    check_database_file(path)
    try:
        conn = await aiosqlite.connect(str(path))
    except sqlite3.Error as exc:
        raise state_error(path, exc) or exc from None
    try:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL: WAL survives a killed process intact; a power cut may lose the last
            # checkpoints, and the cycle is then redone (its entries are idempotent).
            await conn.execute("PRAGMA synchronous=NORMAL")
            saver = AsyncSqliteSaver(conn, serde=CheckpointSerde())
            await saver.setup()
        except sqlite3.Error as exc:
            raise state_error(path, exc) or exc from None
        yield saver
    finally:
        await conn.close()


async def thread_ids(saver: AsyncSqliteSaver) -> list[str]:
    async with saver.conn.execute("SELECT DISTINCT thread_id FROM checkpoints") as cur:
        return sorted(str(r[0]) for r in await cur.fetchall())


async def prune(saver: AsyncSqliteSaver, keep: set[str]) -> int:
    """Delete every thread not in `keep`; returns how many went."""
    gone = 0
    for tid in await thread_ids(saver):
        if tid not in keep:
            await saver.adelete_thread(tid)
            gone += 1
    return gone
