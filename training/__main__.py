"""Entry point: `python -m training train --data-dir DIR --out DIR [...]`."""

import sys

from .cli import main

sys.exit(main())
