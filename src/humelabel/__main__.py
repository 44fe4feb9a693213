"""``python -m humelabel``: the same as the ``humelabel`` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
