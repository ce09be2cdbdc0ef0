"""Entry point for ``python -m recengine``."""

from recengine.cli import main

raise SystemExit(main())
