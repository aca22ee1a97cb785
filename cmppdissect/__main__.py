import sys

from cmppdissect.cli import main

sys.exit(main())
