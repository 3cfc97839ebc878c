"""``python -m verifik_async ...``: the same as the ``verifik-async`` command."""

from .cli import main

raise SystemExit(main())
