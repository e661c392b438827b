"""Entry point of `python -m paas.buildpacks`; see cli.py."""

import sys

from .cli import main

sys.exit(main())
