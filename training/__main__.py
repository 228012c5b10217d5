"""Entry point: `python -m training train --data-dir DIR --out DIR [...]`."""

import os
import sys

# One BLAS thread unless told otherwise: on a shared 2-core machine a second
# OpenBLAS thread that gets descheduled stalls every matmul (measured 5-8x slower).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .cli import main  # numpy must see the variable at import

sys.exit(main())
