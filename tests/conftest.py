import os
import sys

# Tests run on the CPU in float32 (as CI does).  The first in-process
# rlx.run.main() that starts JAX splits the CPU into one device a core; tests
# that need a given device count run the runner in a subprocess.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))
