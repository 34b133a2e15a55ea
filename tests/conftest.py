import os
import sys
import tempfile

# Tests run on the CPU in float32 (as CI does).  The first in-process
# rlx.run.main() that starts JAX splits the CPU into one device a core; tests
# that need a given device count run the runner in a subprocess.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# rlx.run's persistent compilation cache: one per test session, not ~/.cache.
os.environ.setdefault("RLX_COMPILE_CACHE", tempfile.mkdtemp(prefix="rlx-test-compile-cache-"))
sys.path.insert(0, os.path.dirname(__file__))
