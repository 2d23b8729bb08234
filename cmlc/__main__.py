"""``python -m cmlc``: the command line (see :mod:`cmlc.cli`)."""
import sys

from cmlc.cli import main

sys.exit(main())
