"""Test-suite settings shared by the unit tests and the notebooks that nbval executes.

Kernels started by nbval inherit this environment: notebooks read COURSE_FAST to shrink their training
runs (they still assert that learning happened), and tqdm stays quiet.
"""

import os

os.environ.setdefault("COURSE_FAST", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
