"""``python -m mmbench`` runs the command line."""

import sys

from mmbench.cli.main import main

sys.exit(main())
