"""``python -m prunebench``: the same as the ``prunebench`` console script."""

import sys

from .cli import main

sys.exit(main())
