"""``python -m simmatch.service``: run the service; the same command as ``simmatch serve``."""

import sys

from simmatch.cli.main import main

raise SystemExit(main(["serve", *sys.argv[1:]]))
