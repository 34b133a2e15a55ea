"""`python -m rlx.run key=value …`: the runner, `rlx.runner.main`."""

import sys

from rlx.runner.main import main

if __name__ == "__main__":
    sys.exit(main())
