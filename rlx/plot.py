"""`python -m rlx.plot RUN … --out curves.png`: learning curves, `rlx.runner.plot`."""

import sys

from rlx.runner.plot import main

if __name__ == "__main__":
    sys.exit(main())
