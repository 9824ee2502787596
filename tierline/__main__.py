"""`python -m tierline …` is `tierline …` (tests and benchmarks run it so, from the repository)."""

import sys

from tierline.cli.main import main

sys.exit(main())
