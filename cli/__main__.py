"""`python -m cli …` is `tierline …` (tests and benchmarks run it so, from the repository)."""

import sys

from cli.main import main

sys.exit(main())
