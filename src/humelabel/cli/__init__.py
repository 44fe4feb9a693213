"""The command line: one module per command group, argument parsing and messages only."""

from .entry import build_parser, main

__all__ = ["build_parser", "main"]
