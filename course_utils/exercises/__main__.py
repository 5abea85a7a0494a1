"""``python -m course_utils.exercises``: rebuild the exercise and solution notebooks (see the package docstring)."""

import sys

from course_utils.exercises import main

sys.exit(main())
