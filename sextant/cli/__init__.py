"""The `sextant` command line."""
