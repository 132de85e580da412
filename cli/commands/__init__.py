"""One module per `sextant` subcommand, each with `register(subparsers)` setting `handler`."""
