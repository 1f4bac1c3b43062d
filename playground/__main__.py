"""`python -m playground` is the `playground` command."""

from __future__ import annotations

import sys

from playground.cli.main import main

sys.exit(main())
