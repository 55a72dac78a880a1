"""``python -m infoplane`` runs the ``infoplane`` command line (see `infoplane.cli`)."""

import sys

from infoplane.cli import main

if __name__ == "__main__":
    sys.exit(main())
