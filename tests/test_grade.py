"""The grading command, on a synthetic class built from lesson 00's generated exercise notebooks.

The class: a correct submission, one submission per typical mistake of each question, an untouched one, a
forged one (stored outputs edited to ✅, a printed ✅, a replaced checker), one whose answer cell raises,
broken JSON, one that prints megabytes and deletes the files of its working folder, and (graded apart, with
a short time limit) one that loops forever and one whose kernel dies. The test checks the gradebook row by row and that no submission
file changed. Lesson 00's checks take no time, so the kernels' start-up dominates.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from exercise_answers import mistakes

from course_utils import exercises
from course_utils.exercises import grade, lesson00

LESSON = lesson00
QUESTIONS = exercises.questions(LESSON)
MISTAKES = {question.name: mistakes("lesson00", question.name) for question in QUESTIONS}
NOTEBOOK_NAME = exercises.notebook_path(LESSON, "exercises").name
LOOP = "import time\n\nwhile True:  # a loop that never ends\n    time.sleep(0.05)\n"
CRASH = "import os\n\nos._exit(1)  # the kernel's process ends at once\n"
BROKEN_JSON = '{"cells": [\n'
HOSTILE = ('import os\n\nprint("x" * 5_000_000)  # five megabytes of output\n'
           'for name in os.listdir("."):  # delete every file of the working folder\n    os.remove(name)\n')
FORGE_Q2 = 'ex.q2.check = lambda *args: print("✅ Correct!")  # the checker replaced\n'
FORGE_END = ('from IPython.display import display\n\nprint("✅ Correct!")\n'
             'display({"text/plain": "✅ Correct!"}, raw=True)\n')
RAISES_Q3 = "pretraining_head_params = 768 * 768 + D_HEAD  # a name that was never defined\n"


# ------------------------------------------------------------------------------------------------------
# Building the class
# ------------------------------------------------------------------------------------------------------

def load(kind: str) -> dict:
    return json.loads(exercises.notebook_path(LESSON, kind).read_text(encoding="utf-8"))


def code_cell(cell_id: str, source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {}, "outputs": [],
            "source": source.splitlines(keepends=True)}


def index_of(nb: dict, cell_id: str) -> int:
    return next(i for i, cell in enumerate(nb["cells"]) if cell["id"] == cell_id)


def set_source(nb: dict, cell_id: str, source: str) -> None:
    nb["cells"][index_of(nb, cell_id)]["source"] = source.splitlines(keepends=True)


def write(folder: Path, nb: dict | str) -> Path:
    folder.mkdir(parents=True)
    path = folder / NOTEBOOK_NAME
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def with_mistakes(number: int) -> dict:
    """The exercises notebook with each question's ``number``-th typical mistake in place of its stub."""
    nb = load("exercises")
    for question in QUESTIONS:
        set_source(nb, f"{question.name}-stub", MISTAKES[question.name][number].code)
    return nb


def forged() -> dict:
    """Stubs left as they are, every check cell's stored output edited to ✅, a printed and displayed ✅,
    q2's checker replaced by a function that prints ✅, and q3's answer cell raising."""
    nb = load("exercises")
    for number, cell in enumerate(nb["cells"]):
        if cell["id"].endswith("-check"):
            cell["execution_count"] = number
            cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["✅ Correct!\n"]}]
    set_source(nb, "q3-stub", RAISES_Q3)
    nb["cells"].insert(index_of(nb, "q2-check"), code_cell("forge-q2", FORGE_Q2))
    nb["cells"].insert(index_of(nb, "end"), code_cell("forge-end", FORGE_END))
    return nb


def hostile() -> dict:
    """The solutions, after a cell that prints megabytes and deletes every file of its working folder."""
    nb = load("solutions")
    nb["cells"].insert(index_of(nb, "imports") + 1, code_cell("hostile", HOSTILE))
    return nb


def with_cell_before_imports(cell_id: str, source: str) -> dict:
    """The exercises notebook with one more cell before the imports (a loop or a crash: no time wasted on them)."""
    nb = load("exercises")
    nb["cells"].insert(index_of(nb, "imports"), code_cell(cell_id, source))
    return nb


def build_class(root: Path) -> dict[str, Path]:
    """The synthetic class (everything but the infinite loop), one folder per student."""
    mistakes = min(len(wrong) for wrong in MISTAKES.values())
    paths = {"ada": write(root / "ada", load("solutions"))}
    for number, student in enumerate(["ben", "cy", "dee"][:mistakes]):
        paths[student] = write(root / student, with_mistakes(number))
    paths["eli"] = write(root / "eli", forged())
    paths["gus"] = write(root / "gus", load("exercises"))
    paths["hal"] = write(root / "hal", BROKEN_JSON)
    paths["jo"] = write(root / "jo", hostile())
    (root / "jo" / "data.txt").write_text("the student's data\n")
    return paths


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {path.relative_to(root).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*")) if path.is_file()}


# ------------------------------------------------------------------------------------------------------
# The expected gradebook
# ------------------------------------------------------------------------------------------------------

def verdict(question: exercises.Question, code: str) -> tuple[str, str]:
    """What the checker says about ``code`` run in a fresh namespace, as the gradebook stores it."""
    names: dict = {}
    exec(exercises.lesson_sources(LESSON).setup, names)
    exec(code, names)
    status, message = question._verdict(names[question.answer_name])
    return status, grade.clean_message(message)


def expected_rows(paths: dict[str, Path]) -> list[tuple[str, ...]]:
    forged_nb = forged()
    no_verdict = (f"the check cell (cell {index_of(forged_nb, 'q2-check') + 1}) ran but left no verdict: "
                  f"was ex.q2.check(...) changed or replaced?")
    raised = (f"the check cell (cell {index_of(forged_nb, 'q3-check') + 1}) raised NameError: "
              f"name 'pretraining_head_params' is not defined")
    stub = {q.name: verdict(q, q.stub) for q in QUESTIONS}
    by_student = {
        "ada": {q.name: verdict(q, q.solution_code) for q in QUESTIONS},
        **{student: {q.name: verdict(q, MISTAKES[q.name][number].code) for q in QUESTIONS}
           for number, student in enumerate(["ben", "cy", "dee"]) if student in paths},
        "eli": {"q1": stub["q1"], "q2": ("error", no_verdict), "q3": ("error", raised), "q4": stub["q4"]},
        "gus": stub,
        "hal": {q.name: ("error", "could not read the notebook: it is not valid JSON (Expecting value, line 2, "
                                  "column 1)") for q in QUESTIONS},
    }
    by_student["jo"] = by_student["ada"]
    return [(student, f"class/{student}/{NOTEBOOK_NAME}", "lesson00", q.name, *by_student[student][q.name])
            for student in paths for q in QUESTIONS]


def read_gradebook(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    return header, rows


# ------------------------------------------------------------------------------------------------------
# Grading
# ------------------------------------------------------------------------------------------------------

def test_gradebook_of_a_synthetic_class(tmp_path, monkeypatch, capsys):
    paths = build_class(tmp_path / "class")
    before = snapshot(tmp_path / "class")
    monkeypatch.chdir(tmp_path)

    assert exercises.main(["grade", "class", "--output", "gradebook.csv", "--timeout", "60", "--jobs", "2"]) == 0

    header, rows = read_gradebook(tmp_path / "gradebook.csv")
    assert header == list(grade.COLUMNS)
    assert [tuple(row[:-1]) for row in rows] == expected_rows(paths)
    assert all(0 <= float(row[-1]) < 120 for row in rows)
    assert snapshot(tmp_path / "class") == before, "a submission was modified"
    assert not (tmp_path / "class" / "gradebook.csv").exists()

    out = capsys.readouterr().out
    assert "not a sandbox" in out
    lines = out.splitlines()
    assert any(line.split()[:2] == ["ada", "4/4"] for line in lines)
    assert any(line.split()[:2] == ["gus", "0/4"] for line in lines)
    assert any(line.split()[:3] == ["lesson00", "q1", "2/8"] for line in lines)  # ada and jo


def test_a_notebook_that_loops_or_crashes_is_stopped(tmp_path, monkeypatch):
    looping_nb, crashing_nb = with_cell_before_imports("loop", LOOP), with_cell_before_imports("crash", CRASH)
    write(tmp_path / "loop" / "ivy", looping_nb)
    write(tmp_path / "loop" / "kai", crashing_nb)
    before = snapshot(tmp_path / "loop")
    monkeypatch.chdir(tmp_path)

    rows = grade.grade(["loop"], "gradebook.csv", timeout=2, jobs=2)

    stopped = {"ivy": f"the time limit (2 s) ran out in cell {index_of(looping_nb, 'loop') + 1} (`import time`)",
               "kai": f"the kernel died (the notebook crashed Python or ran out of memory) in cell "
                      f"{index_of(crashing_nb, 'crash') + 1} (`import os`)"}
    expected = [(student, f"loop/{student}/{NOTEBOOK_NAME}", "lesson00", q.name, "error", f"not checked: {reason}")
                for student, reason in stopped.items() for q in QUESTIONS]
    assert [(r.student, r.submission, r.lesson, r.question, r.status, r.message) for r in rows] == expected
    assert [tuple(row[:-1]) for row in read_gradebook(tmp_path / "gradebook.csv")[1]] == expected
    assert 2 <= rows[0].seconds < 60
    assert snapshot(tmp_path / "loop") == before


# ------------------------------------------------------------------------------------------------------
# The parts, without a kernel
# ------------------------------------------------------------------------------------------------------

def test_check_records_its_verdict_only_for_the_grader(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results.jsonl"
    monkeypatch.delenv(exercises.GRADE_RESULTS_ENV, raising=False)
    assert lesson00.q2.check(86_567_656) is False
    assert not results.exists()

    monkeypatch.setenv(exercises.GRADE_RESULTS_ENV, str(results))
    assert lesson00.q2.check(86_567_656) is False
    assert lesson00.q3.check(...) is False
    printed = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert [(r["lesson"], r["question"], r["status"]) for r in records] == [
        ("lesson00", "q2", "wrong"), ("lesson00", "q3", "not attempted")]
    assert records[0]["message"] == printed[-2]  # exactly what the learner saw


def test_verdict_statuses(capsys):
    from course_utils.exercises import lesson01

    assert lesson00.q2._verdict(lesson00.q2.expected)[0] == "correct"
    assert lesson00.q2._verdict(1)[0] == "wrong"
    assert lesson00.q2._verdict(...)[0] == "not attempted"
    assert lesson00.q2._verdict(exercises._MISSING)[0] == "not attempted"
    status, message = lesson01.q2._verdict(lambda root: 1 / 0)
    assert status == "error" and message.startswith("❌ Your code raised ZeroDivisionError")
    assert capsys.readouterr().out == ""  # _verdict prints nothing; check prints


def test_results_file_keeps_the_last_verdict_of_known_questions(tmp_path):
    results = tmp_path / "results.jsonl"
    lines = [
        {"lesson": "lesson00", "question": "q1", "status": "wrong", "message": "first"},
        "not json at all",
        {"lesson": "lesson00", "question": "q1", "status": "correct", "message": "second"},
        {"lesson": "lesson00", "question": "q9", "status": "correct", "message": "no such question"},
        {"lesson": "lesson00", "question": "q2", "status": "excellent", "message": "no such status"},
        {"lesson": "lesson00", "question": "q3"},
    ]
    results.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    known = {"lesson00": [q.name for q in QUESTIONS]}
    assert grade._read_verdicts(results, known) == {("lesson00", "q1"): ("correct", "second")}
    assert grade._read_verdicts(tmp_path / "missing.jsonl", known) == {}


def test_find_submissions_names_students(tmp_path, monkeypatch):
    for relative in ["class/ada/00_the_paper_exercises.ipynb", "class/ben/work/late.ipynb", "class/cy.ipynb",
                     "class/ada/.ipynb_checkpoints/00_the_paper_exercises-checkpoint.ipynb", "class/notes.txt",
                     "single/dee.ipynb"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("{}")
    monkeypatch.chdir(tmp_path)
    found = grade.find_submissions(["class", "single/dee.ipynb", "class/cy.ipynb"])
    assert [(s.student, s.label) for s in found] == [
        ("ada", "class/ada/00_the_paper_exercises.ipynb"), ("ben", "class/ben/work/late.ipynb"),
        ("cy", "class/cy.ipynb"), ("dee", "single/dee.ipynb")]
    with pytest.raises(FileNotFoundError):
        grade.find_submissions(["nowhere"])


def test_the_gradebook_never_overwrites_a_submission(tmp_path, monkeypatch):
    path = write(tmp_path / "ada", load("exercises"))
    before = path.read_bytes()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        grade.main(["ada", "--output", str(path)])
    assert path.read_bytes() == before


def test_clean_message():
    assert grade.clean_message("❌ Not it.\n   (line 3 of `f`)") == "Not it. (line 3 of `f`)"
    assert grade.clean_message("✅ Correct!") == "Correct!"
    assert len(grade.clean_message("x" * 10_000)) == grade.MAX_MESSAGE


def test_cli_help_says_it_is_not_a_sandbox(capsys):
    with pytest.raises(SystemExit) as exit_info:
        exercises.main(["grade", "--help"])
    assert exit_info.value.code == 0
    assert "NOT a sandbox" in capsys.readouterr().out

