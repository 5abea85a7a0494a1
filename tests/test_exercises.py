"""Exercises: every checker accepts its solution and the right answers of ``tests/exercise_answers/``, calls
its stub "not attempted", rejects every wrong answer there with a specific message that does not give the
answer away, and never raises; the notebooks match the sources they are generated from.

Every ``course_utils/exercises/lessonNN.py`` is found automatically, so new lessons are covered without
editing this file.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest
from exercise_answers import answers, mistakes

from course_utils import exercises
from course_utils.colab import badge_source, setup_source
from course_utils.exercises import NumberQuestion, Question, SourceError, _sources

REPO_ROOT = Path(__file__).resolve().parents[1]
LESSONS = exercises.lessons()
QUESTIONS = [(lesson, question) for lesson in LESSONS for question in exercises.questions(lesson)]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks" / "exercises").glob("*.ipynb"))
ANSWERS = [(lesson, question, answer) for lesson in LESSONS for question in exercises.questions(lesson)
           for answer in answers(lesson.__name__.rsplit(".", 1)[-1]) if answer.question == question.name]


def lesson_id(lesson) -> str:
    return lesson.__name__.rsplit(".", 1)[-1]


def question_ids(pairs) -> list[str]:
    return [f"{lesson_id(lesson)}.{question.name}" for lesson, question in pairs]


def answer_ids(triples) -> list[str]:
    ids, seen = [], {}
    for lesson, question, answer in triples:
        key = f"{lesson_id(lesson)}.{question.name}.{'right' if answer.right else 'wrong'}"
        seen[key] = seen.get(key, 0) + 1
        ids.append(f"{key}{seen[key]}")
    return ids


def namespace(lesson, question: Question) -> dict:
    """The names a cell of ``question`` sees in the solutions notebook: the imports, earlier solutions."""
    names: dict = {}
    exec(exercises.lesson_sources(lesson).setup, names)
    for earlier in exercises.questions(lesson):
        if earlier is question:
            break
        exec(earlier.solution_code, names)
    return names


def answer_from(lesson, question: Question, code: str):
    names = namespace(lesson, question)
    exec(code, names)
    assert question.answer_name in names, f"the code does not define `{question.answer_name}`"
    return names[question.answer_name]


def run_check(question: Question, answer, capsys) -> tuple[bool, str]:
    capsys.readouterr()
    result = question.check(answer)
    return result, capsys.readouterr().out


def assert_does_not_reveal(question: Question, output: str) -> None:
    """The message must not contain the answer: the expected number, or a line of the solution's code."""
    if isinstance(question, NumberQuestion):
        value = question.expected
        for text in {str(value), f"{value:,}", f"{value:_}"}:
            assert text not in output, f"the message gives the answer away: {output!r}"
        return
    stub_lines = {line.strip() for line in question.stub.splitlines()}
    for line in question.solution_code.splitlines():
        code = line.split("#")[0].strip()
        if len(code) >= 20 and line.strip() not in stub_lines:
            assert code not in output, f"the message shows the solution's line {code!r}: {output!r}"


# ------------------------------------------------------------------------------------------------------
# The lesson modules
# ------------------------------------------------------------------------------------------------------

def test_lesson_modules_are_found():
    assert {"lesson02", "lesson03"} <= {lesson_id(lesson) for lesson in LESSONS}


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_lesson_module_is_complete(lesson):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+", lesson.LESSON)
    assert lesson_id(lesson) == f"lesson{lesson.LESSON[:2]}"
    assert (REPO_ROOT / "notebooks" / f"{lesson.LESSON}.ipynb").exists(), "LESSON names no lesson notebook"
    sources = exercises.lesson_sources(lesson)  # the text, solutions and stubs agree with the module
    assert sources.title and sources.intro
    assert f"import {lesson_id(lesson)} as ex" in sources.setup
    questions = exercises.questions(lesson)
    assert len(questions) >= 3, "every lesson has at least 3 exercises"
    for number, question in enumerate(questions, start=1):
        assert question.name == f"q{number}" and getattr(lesson, question.name) is question
        assert question.title and question.prompt and question.hints and question.answer_name
        assert mistakes(lesson_id(lesson), question.name), (
            f"{question.name}: add at least one typical wrong answer to tests/exercise_answers/{lesson_id(lesson)}.py")


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_answers_name_the_lessons_exercises(lesson):
    names = {question.name for question in exercises.questions(lesson)}
    assert {answer.question for answer in answers(lesson_id(lesson))} <= names


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_lesson_notebook_links_to_its_exercises(lesson):
    text = (REPO_ROOT / "notebooks" / f"{lesson.LESSON}.ipynb").read_text(encoding="utf-8")
    assert f"exercises/{lesson.LESSON}_exercises.ipynb" in text


# ------------------------------------------------------------------------------------------------------
# The checkers
# ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("lesson", "question"), QUESTIONS, ids=question_ids(QUESTIONS))
def test_solution_passes(lesson, question, capsys):
    result, output = run_check(question, answer_from(lesson, question, question.solution_code), capsys)
    assert result is True, output
    assert output.startswith("✅ Correct!")


@pytest.mark.parametrize(("lesson", "question"), QUESTIONS, ids=question_ids(QUESTIONS))
def test_stub_is_not_attempted(lesson, question, capsys):
    stub = answer_from(lesson, question, question.stub)
    result, output = run_check(question, stub, capsys)
    assert result is False
    assert output.startswith("⏳ Not attempted yet"), output
    for untouched in (..., None):
        result, output = run_check(question, untouched, capsys)
        assert result is False and output.startswith("⏳ Not attempted yet")


@pytest.mark.parametrize(("lesson", "question", "answer"), ANSWERS, ids=answer_ids(ANSWERS))
def test_answers_get_their_verdict(lesson, question, answer, capsys):
    """A wrong answer is rejected with its specific message; a right one, however unusual, passes."""
    result, output = run_check(question, answer_from(lesson, question, answer.code), capsys)
    if answer.right:
        assert result is True, f"rejected a right answer ({answer.expect}):\n{answer.code}\n{output}"
        assert output.startswith("✅ Correct!")
        return
    assert result is False, f"accepted a wrong answer:\n{answer.code}"
    assert output.startswith("❌"), output
    assert answer.expect in output, f"expected {answer.expect!r} in {output!r}"
    assert_does_not_reveal(question, output)


@pytest.mark.parametrize(("lesson", "question"), QUESTIONS, ids=question_ids(QUESTIONS))
def test_check_never_raises(lesson, question, capsys):
    class Junk:
        pass

    for junk in (42, 0.5, "text", [1, 2], lambda *args, **kwargs: None, lambda *args, **kwargs: 1 / 0,
                 Junk, Junk()):
        result, output = run_check(question, junk, capsys)
        assert result is False
        assert output.startswith("❌"), output
        assert_does_not_reveal(question, output)


@pytest.mark.parametrize(("lesson", "question"), QUESTIONS, ids=question_ids(QUESTIONS))
def test_hint_and_solution_print(lesson, question, capsys):
    question.hint()
    hint = capsys.readouterr().out
    assert hint.startswith("💡 Hint")
    if isinstance(question, NumberQuestion):
        assert_does_not_reveal(question, hint)
    question.hint(99)  # past the last hint: shows the last one
    assert capsys.readouterr().out.startswith("💡 Hint")
    question.solution()
    assert question.solution_code.strip() in capsys.readouterr().out


def test_check_without_an_answer_asks_for_one(capsys):
    from course_utils.exercises import lesson02

    assert lesson02.q1.check() is False
    assert "check(patchify)" in capsys.readouterr().out


# The examples of COURSE_DESIGN.md §5, asserted explicitly.

def test_patch_embedding_without_class_token_is_caught(capsys):
    from course_utils.exercises import lesson02

    code = """
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        return self.patch_embedding(images)  # neither class token nor E_pos
"""
    result, output = run_check(lesson02.q4, answer_from(lesson02, lesson02.q4, code), capsys)
    assert result is False
    assert "196 tokens" in output and "class token" in output


def test_attention_without_scale_is_caught(capsys):
    from course_utils.exercises import lesson03

    code = "def scaled_dot_product_attention(q, k, v):\n    return (q @ k.transpose(-2, -1)).softmax(-1) @ v\n"
    result, output = run_check(lesson03.q1, answer_from(lesson03, lesson03.q1, code), capsys)
    assert result is False and "1/√D_h" in output


def test_wrong_head_split_is_caught(capsys):
    from course_utils.exercises import lesson03

    code = ("def split_heads(x, num_heads):\n    B, N, D = x.shape\n"
            "    return x.reshape(B, N, D // num_heads, num_heads).permute(0, 3, 1, 2)\n")
    result, output = run_check(lesson03.q3, answer_from(lesson03, lesson03.q3, code), capsys)
    assert result is False and "(D_h, heads)" in output


def test_an_error_in_the_learners_code_is_reported_kindly(capsys):
    from course_utils.exercises import lesson03

    code = "def split_heads(x, num_heads):\n    return x.view(-1, num_heads, 7)\n"
    result, output = run_check(lesson03.q3, answer_from(lesson03, lesson03.q3, code), capsys)
    assert result is False
    assert output.startswith("❌ Your code raised RuntimeError:")


def test_a_half_written_module_is_not_attempted(capsys):
    from course_utils.exercises import lesson02

    code = lesson02.q4.solution_code.split("    def forward")[0] + (
        "    def forward(self, images):\n        raise NotImplementedError\n")
    result, output = run_check(lesson02.q4, answer_from(lesson02, lesson02.q4, code), capsys)
    assert result is False and output.startswith("⏳ Not attempted yet")


# ------------------------------------------------------------------------------------------------------
# The notebooks
# ------------------------------------------------------------------------------------------------------

def read_notebook(path: Path) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        cell["text"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return cells


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_notebooks_are_in_sync_with_the_lesson_module(lesson):
    stale = exercises.stale_notebooks(lesson)
    assert not stale, f"run `python -m course_utils.exercises --execute`: {[p.name for p in stale]} out of sync"


@pytest.mark.parametrize(("lesson", "question"), QUESTIONS, ids=question_ids(QUESTIONS))
def test_stub_and_solution_cells_are_the_source_cells(lesson, question):
    for kind, code, cell_id in [("exercises", question.stub, f"{question.name}-stub"),
                                ("solutions", question.solution_code, f"{question.name}-solution")]:
        cells = {cell["id"]: cell for cell in read_notebook(exercises.notebook_path(lesson, kind))}
        assert cells[cell_id]["text"] == code.strip() + "\n"
        check = cells[f"{question.name}-check"]["text"]
        assert f"ex.{question.name}.check({question.answer_name});" in check
        assert f"# ex.{question.name}.hint()" in check and f"# ex.{question.name}.solution()" in check


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_exercise_notebook_layout(path):
    cells = read_notebook(path)
    relative = path.relative_to(REPO_ROOT).as_posix()
    assert cells[0]["cell_type"] == "markdown" and cells[0]["text"] == badge_source(relative)
    assert cells[1]["cell_type"] == "code" and cells[1]["text"] == setup_source()
    checks = [cell for cell in cells if cell["cell_type"] == "code" and re.search(r"\.q\d+\.check\(", cell["text"])]
    assert len(checks) >= 3, f"{path.name} has {len(checks)} check cells; every lesson has at least 3 exercises"


@pytest.mark.parametrize("lesson", LESSONS, ids=lesson_id)
def test_committed_notebooks_are_executed(lesson):
    """Exercises print "Not attempted yet" for every check, solutions print ✅ (nbval re-runs them too)."""
    for kind, expected in [("exercises", "⏳ Not attempted yet"), ("solutions", "✅ Correct!")]:
        path = exercises.notebook_path(lesson, kind)
        for cell in read_notebook(path):
            if cell["cell_type"] != "code":
                continue
            assert not any(output["output_type"] == "error" for output in cell["outputs"]), path.name
            if ".check(" in cell["text"]:
                text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
                assert text.startswith(expected), f"{path.name}, {cell['id']}: {text!r} (execute it again)"


def test_builder_writes_valid_notebooks(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from course_utils.exercises import lesson02

    monkeypatch.setattr(exercises, "EXERCISES_DIR", tmp_path)
    written = exercises.build_notebooks(lesson02)
    assert [path.name for path in written] == ["02_patch_embedding_exercises.ipynb",
                                               "02_patch_embedding_solutions.ipynb"]
    for path in written:
        nbformat.validate(nbformat.read(path, as_version=4))
    assert exercises.stale_notebooks(lesson02) == []
    assert exercises.build_notebooks(lesson02) == []  # up to date: nothing rewritten, outputs kept


def test_cli_check_reports_sync(capsys):
    assert exercises.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------------------------------------------
# The source files
# ------------------------------------------------------------------------------------------------------

def test_read_cells():
    text = '"""A docstring: no cell."""\n# ruff: noqa: F401\n\n# %% imports\nimport torch\n\n\n# %% q1\nx = 1\n\ny = 2\n'
    assert _sources.read_cells(text) == [("imports", "import torch\n"), ("q1", "x = 1\n\ny = 2\n")]
    with pytest.raises(SourceError):
        _sources.read_cells("# %% q1\n\n# %% q2\nx = 1\n")  # an empty cell


def test_parse_text():
    text = ("# Title\n\nThe intro,\non two lines.\n\n## q1: First: a title\n\nThe prompt.\n\n- a list\n\n"
            "### Hint\n\nA hint\nwrapped.\n\n### Hint\n\nAnother.\n\n### Why\n\nBecause.\n\n"
            "## q2: Second\n\nPrompt two.\n\n### Hint\n\nOnly one.\n")
    parsed = _sources.parse_text(text)
    assert (parsed.title, parsed.intro) == ("Title", "The intro,\non two lines.")
    assert parsed.questions["q1"] == _sources.QuestionText("First: a title", "The prompt.\n\n- a list",
                                                           ("A hint wrapped.", "Another."), "Because.")
    assert parsed.questions["q2"].hints == ("Only one.",) and parsed.questions["q2"].why == ""
    for broken in ("No title\n\n## q1: t\n\np\n\n### Hint\n\nh\n",  # no `# Title`
                   "# T\n\n## q1: t\n\np\n",  # no hint
                   "# T\n\n## q1: t\n\np\n\n### Hint\n\nh\n\n### Example\n\nx\n",  # an unknown heading
                   "# T\n\n## q1: t\n\np\n\n### Hint\n\nh\n\n## q1: again\n\np\n\n### Hint\n\nh\n"):  # twice
        with pytest.raises(SourceError):
            _sources.parse_text(broken)


def test_sources_that_disagree_are_refused(monkeypatch):
    text = "# T\n\nIntro.\n\n## q1: t\n\nPrompt.\n\n### Hint\n\nh\n"
    files = {"text": text, "solutions": "# %% imports\nimport torch\n\n# %% q1\nx = 1\n",
             "stubs": "# %% imports\nimport math\n\n# %% q1\nx = ...\n"}
    monkeypatch.setattr(_sources, "_read", lambda kind, lesson_id: files[kind])
    _sources.load.cache_clear()
    try:
        with pytest.raises(SourceError, match="imports"):  # the two imports cells differ
            _sources.load("lesson99")
        files["stubs"] = "# %% imports\nimport torch\n\n# %% q2\nx = ...\n"
        _sources.load.cache_clear()
        with pytest.raises(SourceError, match="q2"):  # a cell for an exercise the text does not have
            _sources.load("lesson99")
        files["stubs"] = "# %% imports\nimport torch\n\n# %% q1\nx = ...\n"
        _sources.load.cache_clear()
        assert _sources.load("lesson99").questions["q1"].stub == "x = ...\n"
    finally:
        _sources.load.cache_clear()


def test_the_sources_ship_with_the_package():
    """A wheel (``pip install``, as on Colab) must hold the sources, or ``hint()`` and ``solution()`` fail there.
    Their folders are no packages: setuptools ships their ``.py`` files anyway, but the ``.md`` files only
    as package data declared in pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config.get("tool", {}).get("setuptools", {}).get("package-data", {}).get("course_utils.exercises", [])
    package = REPO_ROOT / "course_utils" / "exercises"
    for path in sorted((package / "text").glob("*.md")):
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch(relative, pattern) for pattern in globs), (
            f'pyproject.toml does not ship course_utils/exercises/{relative}: add `"course_utils.exercises" = '
            f'["text/*.md"]` under [tool.setuptools.package-data]')
    assert not any((package / kind / "__init__.py").exists() for kind in ("text", "solutions", "stubs"))


# ------------------------------------------------------------------------------------------------------
# The bugs learners of ViT tutorials hit most, each caught with its own message
# ------------------------------------------------------------------------------------------------------

def verdict_of(lesson, question_name: str, header: str, capsys) -> tuple[bool, str]:
    """Check the answer of ``tests/exercise_answers/`` whose header starts with ``header``."""
    question = getattr(lesson, question_name)
    (found,) = [a for a in answers(lesson_id(lesson)) if a.question == question_name
                and f"{'right' if a.right else 'wrong'}: {a.expect}".startswith(header)]
    return run_check(question, answer_from(lesson, question, found.code), capsys)


def test_torch_encoder_layer_reading_sequence_first_is_caught(capsys):
    from course_utils.exercises import lesson04

    result, output = verdict_of(lesson04, "q5", "wrong: (N, B, D)", capsys)
    assert result is False and "batch_first=False" in output and "across the images of the batch" in output


def test_torch_encoder_layer_without_norm_first_is_caught(capsys):
    from course_utils.exercises import lesson04

    result, output = verdict_of(lesson04, "q5", "wrong: Your layer is post-norm", capsys)
    assert result is False and "norm_first=False" in output and "pre-norm" in output


def test_dropout_against_appendix_b1_is_caught(capsys):
    from course_utils.exercises import lesson04, lesson05

    result, output = verdict_of(lesson04, "q5", "wrong: also drops attention weights", capsys)
    assert result is False and "Appendix B.1" in output and "attention weights" in output
    for header, words in [("wrong: there is no dropout on z_0", "no dropout on z_0"),
                          ("wrong: comes before the position embedding", "E_pos is never dropped"),
                          ("wrong: drops the patch embeddings only", "patch embeddings only")]:
        result, output = verdict_of(lesson05, "q1", header, capsys)
        assert result is False and words in output and "Appendix B.1" in output


def test_final_layer_norm_before_or_after_token_0(capsys):
    """Normalising every token and then taking token 0 is right (LayerNorm is per token), and the check says
    why; for an average the order matters, and the check says that too."""
    from course_utils.exercises import lesson05

    result, output = verdict_of(lesson05, "q1", "right: repeat, and Eq 4's LayerNorm on every token", capsys)
    assert result is True and "equivalent" in output and "each token on its own" in output
    result, output = verdict_of(lesson05, "q1", "right: the blocks called one by one", capsys)
    assert result is True and "equivalent" not in output
    result, output = verdict_of(lesson05, "q2", "wrong: average first", capsys)
    assert result is False and "For one token the order would not matter" in output


def test_position_embedding_with_a_batch_dimension_is_caught(capsys):
    from course_utils.exercises import lesson02

    result, output = verdict_of(lesson02, "q4", "wrong: a batch dimension of 32", capsys)
    assert result is False and "`self.position_embedding` has shape (32, 197, 768)" in output
    assert "shared by every image" in output


def test_repeat_and_expand_pass_but_a_fixed_batch_size_does_not(capsys):
    from course_utils.exercises import lesson02, lesson05

    assert verdict_of(lesson02, "q4", "right: repeat instead of expand", capsys)[0] is True
    assert run_check(lesson02.q4, answer_from(lesson02, lesson02.q4, lesson02.q4.solution_code), capsys)[0] is True
    for lesson, question, header in [(lesson02, "q4", "wrong: a size in it is fixed at 32"),
                                     (lesson02, "q4", "wrong: a size in it is fixed at 2"),
                                     (lesson05, "q1", "wrong: a size in it is fixed at 32")]:
        result, output = verdict_of(lesson, question, header, capsys)
        assert result is False and "a size in it is fixed" in output and "expand (or repeat)" in output
    text = lesson02.q4.prompt
    assert "returns a view" in text and "copies the" in text  # the prompt says what differs


# ------------------------------------------------------------------------------------------------------
# The probes that see what the learner's code does
# ------------------------------------------------------------------------------------------------------

def test_unchanged_sees_in_place_changes():
    import torch
    from torch import nn

    from course_utils.exercises import Unchanged, Wrong

    def changes(**values):
        def run(action):
            guard = Unchanged(**values)
            action()
            try:
                guard.expect("f")
            except Wrong as wrong:
                return str(wrong)
            return None
        return run

    x = torch.ones(2, 3)
    assert changes(x=x)(lambda: x.mul(2)) is None  # a new tensor: fine
    assert "changed `x` in place" in changes(x=x)(lambda: x[:, 0].zero_())  # through a view
    layer = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
    assert "eval mode" in changes(model=layer)(layer.eval)
    layer.train()
    assert "requires_grad" in changes(model=layer)(lambda: layer[0].weight.requires_grad_(False))
    maps = [torch.zeros(1), torch.ones(1)]
    assert "reordered or changed the list" in changes(maps=maps)(maps.reverse)
    params = {"w": torch.zeros(2)}
    assert "changed `params['w']` in place" in changes(params=params)(lambda: params["w"].add_(1))


def test_expect_gradients_sees_a_cut_graph():
    import torch

    from course_utils.exercises import Wrong, expect_gradients

    x = torch.randn(3, requires_grad=True)
    expect_gradients(x * 2, x * 2, {"x": x}, "The output")
    with pytest.raises(Wrong, match="carries no gradient"):
        expect_gradients((x * 2).detach(), x * 2, {"x": x}, "The output")
    y = torch.randn(3, requires_grad=True)
    with pytest.raises(Wrong, match="No gradient reaches `x`"):
        expect_gradients(x.detach() * 2 + y, x * 2 + y, {"x": x, "y": y}, "The output")
    with pytest.raises(Wrong, match="not the right one"):
        expect_gradients(x * x.detach() + x, x * x + x, {"x": x}, "The output")


def test_seeded_fixed_size_and_refusing():
    import torch

    from course_utils.exercises import Wrong, fixed_size, refusing, seeded

    state = torch.get_rng_state()
    with seeded(1):
        a = torch.rand(3)
    with seeded(1):
        assert torch.equal(a, torch.rand(3))
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is untouched
    try:
        torch.cat([torch.zeros(32, 1, 4), torch.zeros(2, 5, 4)], dim=1)
    except RuntimeError as error:
        assert fixed_size(error, 2) == 32
    assert fixed_size(RuntimeError("something else"), 2) is None
    import torch.nn.functional as F

    with refusing(F, "gelu", "no GELU here"), pytest.raises(Wrong, match="no GELU here"):
        F.gelu(torch.zeros(1))
    assert F.gelu(torch.zeros(1)).item() == 0.0


def test_call_leaving_alone_sees_the_working_directory_and_the_global_rngs(tmp_path):
    import os
    import random

    import numpy as np
    import torch

    from course_utils.exercises import Wrong
    from course_utils.exercises._probes import call_leaving_alone

    cwd, state = os.getcwd(), torch.get_rng_state()
    assert call_leaving_alone(lambda x: x + 1, "f", 1) == 2
    with pytest.raises(Wrong, match="changed the working directory"):
        call_leaving_alone(os.chdir, "f", tmp_path)
    assert os.getcwd() == cwd  # the caller's working directory is back all the same
    for name, draw in [("torch's", lambda: torch.rand(1)), ("NumPy's", np.random.rand),
                       ("Python's `random`", random.random)]:
        with pytest.raises(Wrong, match=re.escape(f"changed {name} global random number generator")):
            call_leaving_alone(draw, "f")
    assert call_leaving_alone(lambda: torch.rand(1), "f", draws=("torch",)).shape == (1,)  # drawing is allowed
    with pytest.raises(Wrong, match="re-seeds torch's global random number generator"):
        call_leaving_alone(lambda: (torch.manual_seed(0), torch.rand(1)), "f", draws=("torch",))
    for seed in (0, 1):  # re-seeding with the checker's own seed shows too
        with pytest.raises(Wrong, match="changed torch's"):
            call_leaving_alone(torch.manual_seed, "f", seed, seed=seed)

    def forked() -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            return torch.rand(1)

    assert torch.equal(call_leaving_alone(forked, "f"), forked())  # seeded, and the state restored: fine
    assert torch.equal(state, torch.get_rng_state())
