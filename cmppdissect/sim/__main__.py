"""``python -m cmppdissect.sim server|client|demo``."""

import sys

from cmppdissect.sim.cli import main

sys.exit(main(sys.argv[1:]))
