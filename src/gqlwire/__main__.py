"""``python -m gqlwire``: the command line (see :mod:`gqlwire.cli`)."""

from .cli import main

raise SystemExit(main())
