"""``python -m cli``: the ``dalel`` command."""

import sys

from cli.main import main

sys.exit(main())
