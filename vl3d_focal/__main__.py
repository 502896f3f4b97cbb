"""Entry point of ``python -m vl3d_focal``."""

import sys

from vl3d_focal.cli import main

sys.exit(main())
