import os

# Tests run on CPU with a few threads: deterministic and friendly to 2-core CI.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

# "ci" (default): derandomised, 25 examples per property unless a test sets its own bound —
# enough to hit the lattice ties and empty-group edge cases the strategies are built to make
# frequent, and what keeps `make test` under ~6 minutes on 2 cores (each example with a new
# shape recompiles the kernels). "thorough": 200 random examples, for a nightly or a change to
# a kernel: HYPOTHESIS_PROFILE=thorough pytest tests.
settings.register_profile("ci", deadline=None, max_examples=25, derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
