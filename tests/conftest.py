import os
import sys

# Tests run on the CPU, one device, in float32 (as CI does).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))
