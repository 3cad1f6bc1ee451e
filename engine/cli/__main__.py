"""`python -m engine.cli`: the `huiqi` command line."""

from engine.cli import entry

entry()
