"""`python -m cli ...`: the same as the `greenbar` console script."""

from cli.main import main

raise SystemExit(main())
