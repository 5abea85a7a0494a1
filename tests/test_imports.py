"""The package loads its sub-modules on first use: importing the model does not import plotting; the library
never imports the training script."""

import subprocess
import sys


def fresh_interpreter(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_importing_the_model_leaves_matplotlib_alone():
    assert fresh_interpreter("import sys, course_utils.vit; print('matplotlib' in sys.modules)") == "False"


def test_sub_modules_are_reachable_as_attributes():
    out = fresh_interpreter("import course_utils; print(course_utils.utils.get_device(), "
                            "course_utils.vit.ViT.__name__, sorted(course_utils.__all__) == course_utils.__all__)")
    assert out.split()[1:] == ["ViT", "True"]


def test_an_unknown_attribute_is_an_attribute_error():
    out = fresh_interpreter("import course_utils\ntry:\n    course_utils.nope\nexcept AttributeError as e:\n"
                            "    print(e)")
    assert out == "module 'course_utils' has no attribute 'nope'"


def test_library_modules_do_not_import_the_training_script():
    """``course_utils.train`` is a command-line script: the library never imports it (it imports the library)."""
    code = """
import pkgutil, sys, course_utils
for module in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
    if module.name != "course_utils.train" and not module.name.endswith(".__main__"):
        __import__(module.name)
print(sorted(name for name in sys.modules if name.startswith("course_utils.")))
print("course_utils.train" in sys.modules)
"""
    imported, train_imported = fresh_interpreter(code).splitlines()
    assert "course_utils.optim" in imported and "course_utils.exercises.lesson06" in imported
    assert train_imported == "False"
