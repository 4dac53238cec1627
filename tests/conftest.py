"""Shared test configuration."""

import os

# First, as a user's script would: minigrad loads NumPy with OpenBLAS's workers set to sleep
# soon (minigrad/_blas_env.py), so the register-tiled kernels run here as they do for users
# on AVX-512 machines, whichever test module is collected first.
import minigrad  # noqa: F401
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci")
