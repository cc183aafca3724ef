"""`python -m benchmarks [--quick] [--only NAME]`: run every benchmark module, print one table, write JSON."""

import sys

from .runner import main

sys.exit(main())
