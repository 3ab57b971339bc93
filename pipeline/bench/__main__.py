"""``python -m pipeline.bench run AUDIO --out DIR --result FILE``: one timed run in a fresh process."""

import sys

from pipeline.bench.bench import _child_main

sys.exit(_child_main())
