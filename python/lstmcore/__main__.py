"""Entry point of ``python -m lstmcore``; see lstmcore.cli."""

from .cli import main

raise SystemExit(main())
