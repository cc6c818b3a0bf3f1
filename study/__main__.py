"""`python -m study`: see study.cli."""

from study.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
