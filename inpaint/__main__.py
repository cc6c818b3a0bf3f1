"""Command line: ``python -m inpaint {restore,damage,train,evaluate} ...`` (filled in by cli.py)."""

from .cli import main

raise SystemExit(main())
