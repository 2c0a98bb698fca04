"""Entry point of ``python -m lstmcore``; the commands live in lstmcore.cli (one module each)."""

from .cli import main

raise SystemExit(main())
