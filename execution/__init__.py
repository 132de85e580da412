"""Execution: broker port and adapters, position lifecycle rules, persistence, the loop."""
