"""Risk Manager: the deterministic stage that turns analysis into LONG/SHORT/WAIT. Pure."""

from sextant.risk.manager import SymbolInputs, decide, evaluate_symbol

__all__ = ["SymbolInputs", "decide", "evaluate_symbol"]
