"""Client order ids: derived from the position (= signal) id, so a retry reuses the same id.

Bybit's orderLinkId allows 36 characters of [A-Za-z0-9_-]. Signal ids are at most 26
(`sx-YYMMDDHH-BASE-L`, see sextant.risk.manager.signal_id), adopted positions' ids as well;
the suffixes below keep every id within the limit.
"""

import re

from sextant.positions import ExitReason

MAX_LEN = 36
_VALID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")

EXIT_CODES: dict[str, str] = {
    "tp1": "t1",
    "tp2": "t2",
    "stop_loss": "sl",
    "breakeven_stop": "be",
    "trailing_stop": "ts",
    "stale_exit": "st",
    "news_panic": "np",
    "manual": "mn",
    "liquidation": "lq",
    "circuit_breaker": "cb",
    "signal_reversal": "rv",
}


def _check(cid: str) -> str:
    if not _VALID.match(cid):
        raise ValueError(f"client order id {cid!r} is not a valid Bybit orderLinkId")
    return cid


def entry_id(position_id: str) -> str:
    return _check(f"{position_id}-e")


def stop_id(position_id: str, revision: int = 0) -> str:
    """The initial stop is `-sl`; every replacement (breakeven, trail, re-placed) `-s<n>`."""
    return _check(f"{position_id}-sl" if revision == 0 else f"{position_id}-s{revision}")


def target_id(position_id: str, which: int, revision: int = 0) -> str:
    base = f"{position_id}-t{which}"
    return _check(base if revision == 0 else f"{base}r{revision}")


def exit_id(position_id: str, reason: ExitReason, attempt: int = 0) -> str:
    """A market exit for `reason`; `attempt` > 0 when an earlier one left something open."""
    code = EXIT_CODES[reason]
    return _check(f"{position_id}-x{code}" if attempt == 0 else f"{position_id}-x{code}{attempt}")


def revision(client_order_id: str) -> int:
    """The revision of a stop or target id (`-sl`/`-t1` 0, `-s3`/`-t1r3` 3): later ones are
    newer."""
    m = re.search(r"-(?:s|t[12]r)(\d+)$", client_order_id)
    return int(m.group(1)) if m else 0
