"""Sextant: the domain vocabulary, settings and deterministic core shared by every entry point."""

__version__ = "0.1.0"
