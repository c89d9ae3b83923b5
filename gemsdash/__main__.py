"""`python -m gemsdash`: the same as the `gemsdash` command."""

from gemsdash.cli import main

raise SystemExit(main())
