"""The teacher's workflow: release, grade, feedback, on a synthetic class built from lesson 00's notebooks.

``release`` is checked for every lesson without a kernel: no solution can be seen in what it writes. The class
starts from lesson 00's released notebook: a correct submission, one submission per typical mistake of each
question, an untouched one, a forged one (stored outputs edited to ✅, a printed ✅, a replaced checker), one
whose answer cell raises, broken JSON, one that prints megabytes and deletes the files of its working folder,
one that patches two checkers (a one-line `ex.q4._check = ...` and one hidden in an `exec`), one that prints
✅ instead of calling the check, and (graded apart, with a short time limit) one that loops forever and one
whose kernel dies. The test checks the long gradebook row by row, the flags, the wide gradebook, the saved
summary, the feedback files, and that no submission file changed. Lesson 00's checks take no time, so the
kernels' start-up dominates.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from exercise_answers import mistakes

from course_utils import exercises
from course_utils.exercises import grade, lesson00, release

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
PATCH_Q4 = "\nex.q4._check = lambda answer: None  # every answer is right\n"
PATCH_Q3 = ('pretraining_head_params = 1\n'
            'exec("ex.q3._" + "check = lambda answer: None")  # the same, out of sight of a reader of the code\n')
PRINT_Q1 = 'print("✅ Correct!")  # instead of the check\n'


# ------------------------------------------------------------------------------------------------------
# Building the class
# ------------------------------------------------------------------------------------------------------

def load(kind: str) -> dict:
    """Lesson 00's notebook as released to students ("released") or the course's solutions ("solutions")."""
    if kind == "released":
        return release.release_notebook(LESSON)
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
    nb = load("released")
    for question in QUESTIONS:
        set_source(nb, f"{question.name}-stub", MISTAKES[question.name][number].code)
    return nb


def forged() -> dict:
    """Stubs left as they are, every check cell's stored output edited to ✅, a printed and displayed ✅,
    q2's checker replaced by a function that prints ✅, and q3's answer cell raising."""
    nb = load("released")
    for number, cell in enumerate(nb["cells"]):
        if cell["id"].endswith("-check"):
            cell["execution_count"] = number
            cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["✅ Correct!\n"]}]
    set_source(nb, "q3-stub", RAISES_Q3)
    nb["cells"].insert(index_of(nb, "q2-check"), code_cell("forge-q2", FORGE_Q2))
    nb["cells"].insert(index_of(nb, "end"), code_cell("forge-end", FORGE_END))
    return nb


def patched() -> dict:
    """q1 and q2 solved; q3 answered wrongly and its checker replaced inside an ``exec``; q4 left as the stub
    with its checker replaced in one plain line."""
    nb = load("released")
    for question in QUESTIONS[:2]:
        set_source(nb, f"{question.name}-stub", question.solution_code)
    set_source(nb, "q3-stub", PATCH_Q3)
    nb["cells"][index_of(nb, "q4-stub")]["source"] += PATCH_Q4.splitlines(keepends=True)
    return nb


def printed_tick() -> dict:
    """q1 solved, but its check cell prints ✅ instead of calling the check."""
    nb = load("released")
    set_source(nb, "q1-stub", QUESTIONS[0].solution_code)
    set_source(nb, "q1-check", PRINT_Q1)
    return nb


def hostile() -> dict:
    """The solutions, after a cell that prints megabytes and deletes every file of its working folder."""
    nb = load("solutions")
    nb["cells"].insert(index_of(nb, "imports") + 1, code_cell("hostile", HOSTILE))
    return nb


def with_cell_before_imports(cell_id: str, source: str) -> dict:
    """The exercises notebook with one more cell before the imports (a loop or a crash: no time wasted on them)."""
    nb = load("released")
    nb["cells"].insert(index_of(nb, "imports"), code_cell(cell_id, source))
    return nb


def build_class(root: Path) -> dict[str, Path]:
    """The synthetic class (everything but the infinite loop), one folder per student."""
    mistakes = min(len(wrong) for wrong in MISTAKES.values())
    paths = {"ada": write(root / "ada", load("solutions"))}
    for number, student in enumerate(["ben", "cy", "dee"][:mistakes]):
        paths[student] = write(root / student, with_mistakes(number))
    paths["eli"] = write(root / "eli", forged())
    paths["gus"] = write(root / "gus", load("released"))
    paths["hal"] = write(root / "hal", BROKEN_JSON)
    paths["jo"] = write(root / "jo", hostile())
    (root / "jo" / "data.txt").write_text("the student's data\n")
    paths["fay"] = write(root / "fay", patched())
    paths["max"] = write(root / "max", printed_tick())
    return dict(sorted(paths.items()))  # the grader's order


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


def patched_verdict(question: exercises.Question, code: str) -> tuple[str, str]:
    """What the checker says about ``code`` once its ``_check`` is replaced by one that accepts anything."""
    names: dict = {}
    exec(exercises.lesson_sources(LESSON).setup, names)
    exec(code.replace("exec(", "(lambda *args: None)("), names)  # the submission's own patch is not run here
    question._check = lambda answer: None
    try:
        status, message = question._verdict(names[question.answer_name])
    finally:
        del question._check
    return status, grade.clean_message(message)


def expected_rows(paths: dict[str, Path]) -> list[tuple[str, ...]]:
    forged_nb = forged()
    no_verdict = (f"the check cell (cell {index_of(forged_nb, 'q2-check') + 1}) ran but left no verdict: "
                  f"was ex.q2.check(...) changed or replaced?")
    raised = (f"the check cell (cell {index_of(forged_nb, 'q3-check') + 1}) raised NameError: "
              f"name 'pretraining_head_params' is not defined")
    stub = {q.name: verdict(q, q.stub) for q in QUESTIONS}
    solved = {q.name: verdict(q, q.solution_code) for q in QUESTIONS}
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
    by_student["fay"] = {"q1": solved["q1"], "q2": solved["q2"], "q3": patched_verdict(QUESTIONS[2], PATCH_Q3),
                         "q4": patched_verdict(QUESTIONS[3], QUESTIONS[3].stub)}
    by_student["max"] = {**stub, "q1": ("not attempted", "the notebook has no check cell for this question "
                                                         "(ex.q1.check(...))")}
    return [(student, f"class/{student}/{NOTEBOOK_NAME}", "lesson00", q.name, *by_student[student][q.name])
            for student in paths for q in QUESTIONS]


# What must be among each flagged student's flags (every other student has none)
EXPECTED_FLAGS = {
    "eli": ["assigns `ex.q2.check` (patches the checks)", "writes a ✅ in its code",
            "in the kernel after the run: lesson00.q2: check replaced",
            "the stored output of q1's check (cell", "shows ✅, the run says not attempted"],
    "fay": ["assigns `ex.q4._check` (patches the checks)", "runs code from a string (`exec`)",
            "in the kernel after the run: lesson00.q3: _check replaced", "lesson00.q4: _check replaced"],
    "max": ["writes a ✅ in its code (prints a verdict mark without a check)"],
}


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

    # A generous time limit: importing torch alone can take a minute on a busy 2-core machine
    assert exercises.main(["grade", "class", "--output", "gradebook.csv", "--timeout", "240", "--jobs", "2"]) == 0

    header, rows = read_gradebook(tmp_path / "gradebook.csv")
    assert header == list(grade.COLUMNS)
    flags_at = header.index("flags")
    assert [tuple(row[:flags_at] + row[flags_at + 1:-1]) for row in rows] == expected_rows(paths)
    assert all(0 <= float(row[-1]) < 400 for row in rows)
    assert snapshot(tmp_path / "class") == before, "a submission was modified"
    assert not (tmp_path / "class" / "gradebook.csv").exists()

    # Flags: on every row of a flagged submission, and on no other
    flags = {row[0]: row[flags_at] for row in rows}
    assert all(row[flags_at] == flags[row[0]] for row in rows)
    assert {student for student, text in flags.items() if text} == set(EXPECTED_FLAGS)
    for student, fragments in EXPECTED_FLAGS.items():
        for fragment in fragments:
            assert fragment in flags[student], (student, fragment, flags[student])

    # The wide gradebook: one row per student, 1/0 per question, the total
    wide_header, wide_rows = read_gradebook(tmp_path / "gradebook_wide.csv")
    assert wide_header == ["student", "flags", *(f"lesson00 {q.name}" for q in QUESTIONS), "total", "out_of"]
    wide = {row[0]: row for row in wide_rows}
    assert list(wide) == list(paths)
    long_scores = {(row[0], row[3]): int(row[4] == "correct") for row in rows}
    for student, row in wide.items():
        scores = [long_scores[(student, q.name)] for q in QUESTIONS]
        assert row[2:] == [*map(str, scores), str(sum(scores)), str(len(QUESTIONS))], row
        assert bool(row[1]) == (student in EXPECTED_FLAGS)
    assert wide["ada"][-2] == "4" and wide["gus"][-2] == "0" and wide["fay"][-2] == "4"

    # The summary, printed and saved
    out = capsys.readouterr().out
    assert "not a sandbox" in out
    saved = (tmp_path / "gradebook_summary.txt").read_text(encoding="utf-8")
    assert saved.strip() and saved.strip() in out
    lines = saved.splitlines()
    assert any(line.split()[:2] == ["ada", "4/4"] for line in lines)
    assert any(line.split()[:2] == ["gus", "0/4"] for line in lines)
    assert any(line.split()[:3] == ["lesson00", "q1", f"3/{len(paths)}"] for line in lines)  # ada, jo, fay
    assert [line.split()[0] for line in lines if line.endswith("FLAGGED")] == list(EXPECTED_FLAGS)
    assert f"Flagged for review ({len(EXPECTED_FLAGS)} submission(s))" in saved

    # One feedback file per student: every question's verdict and message, and no flags
    feedback = {path.name: path.read_text(encoding="utf-8") for path in (tmp_path / "feedback").iterdir()}
    assert set(feedback) == {f"{student}.md" for student in paths}
    assert "**4 of 4 correct.**" in feedback["ada.md"] and "**0 of 4 correct.**" in feedback["gus.md"]
    for question in QUESTIONS:
        assert question.title in feedback["ada.md"]
    student_rows = [row for row in rows if row[0] == "ben"]
    for row in student_rows:
        assert f"**{row[3]} · " in feedback["ben.md"] and grade._escape(row[flags_at + 1]) in feedback["ben.md"]
    assert "could not read the notebook" in feedback["hal.md"]
    # the flags stay in the teacher's gradebook (checkers' own messages may say "patches": lesson 00 counts them)
    flag_texts = {row[flags_at] for row in rows if row[flags_at]}
    assert flag_texts and not any(flag in text for flag in flag_texts for text in feedback.values())
    assert not any("FLAGGED" in text for text in feedback.values())


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
    expected = [(student, f"loop/{student}/{NOTEBOOK_NAME}", "lesson00", q.name, "error", "",
                 f"not checked: {reason}") for student, reason in stopped.items() for q in QUESTIONS]
    assert [(r.student, r.submission, r.lesson, r.question, r.status, r.flags, r.message) for r in rows] == expected
    assert [tuple(row[:-1]) for row in read_gradebook(tmp_path / "gradebook.csv")[1]] == expected
    assert 2 <= rows[0].seconds < 300  # the kernel's start is counted too
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
    # One student's folder, or a released notebook named itself: the folder names the student
    for given in ["class/ada", "class/ada/", "class/ada/00_the_paper_exercises.ipynb"]:
        assert [s.student for s in grade.find_submissions([given])] == ["ada"], given
    monkeypatch.chdir(tmp_path / "class" / "ada")
    assert [s.student for s in grade.find_submissions(["."])] == ["ada"]
    with pytest.raises(FileNotFoundError):
        grade.find_submissions(["nowhere"])


def test_the_gradebook_never_overwrites_a_submission(tmp_path, monkeypatch):
    path = write(tmp_path / "ada", load("released"))
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



# ------------------------------------------------------------------------------------------------------
# Release: the notebooks handed out show no solution
# ------------------------------------------------------------------------------------------------------

def test_release_writes_every_lesson_without_its_solutions(tmp_path, capsys):
    assert exercises.main(["release", str(tmp_path / "out")]) == 0
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == sorted(exercises.notebook_path(lesson, "exercises").name for lesson in exercises.lessons())
    for lesson in exercises.lessons():
        nb = json.loads((tmp_path / "out" / exercises.notebook_path(lesson, "exercises").name).read_text())
        text = json.dumps(nb, ensure_ascii=False)
        assert ".solution(" not in text and "_solutions.ipynb" not in text and "colab.research" not in text
        assert release.revealing(nb, lesson) == []
        assert all(cell.get("outputs", []) == [] for cell in nb["cells"])
        cells = {cell["id"]: "".join(cell["source"]) for cell in nb["cells"]}
        for question in exercises.questions(lesson):
            assert cells[f"{question.name}-stub"] == question.stub
            check = nb["cells"][index_of(nb, f"{question.name}-check")]
            assert cells[f"{question.name}-check"].startswith(f"ex.{question.name}.check({question.answer_name});")
            assert f"# ex.{question.name}.hint()" in cells[f"{question.name}-check"]
            assert check["metadata"] == {"deletable": False}
    assert "grade submissions/" in capsys.readouterr().out


def test_revealing_finds_what_shows_a_solution():
    solutions = load("solutions")
    found = release.revealing(solutions, LESSON)
    assert any("a line of a solution" in problem for problem in found)
    assert any("`_solutions.ipynb`" in problem or "`.solution(`" in problem for problem in found)
    course_exercises = json.loads(exercises.notebook_path(LESSON, "exercises").read_text(encoding="utf-8"))
    assert any("`.solution(`" in problem for problem in release.revealing(course_exercises, LESSON))
    released = load("released")
    set_source(released, "q2-stub", QUESTIONS[1].solution_code)  # a solution pasted into a handout
    assert any("a line of a solution: `vit_b16_384_params = " in problem
               for problem in release.revealing(released, LESSON))


def test_release_refuses_the_course_folder_and_unknown_lessons(tmp_path):
    with pytest.raises(ValueError, match="exercises folder"):
        release.release(exercises.EXERCISES_DIR)
    with pytest.raises(SystemExit):
        exercises.main(["release", str(tmp_path), "42"])
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------------
# Flags read from the code
# ------------------------------------------------------------------------------------------------------

IMPORTS = "from course_utils.exercises import lesson00 as ex\nimport course_utils.exercises as E\n"


@pytest.mark.parametrize("source, fragment", [
    ("ex.q4._check = lambda a: None", "assigns `ex.q4._check`"),
    ("ex.q2.expected = 0", "assigns `ex.q2.expected`"),
    ("Q = type(ex.q2)\nQ._verdict = lambda self, a: ('correct', '')", "assigns `Q._verdict`"),
    ("del ex.q1._check", "deletes `ex.q1._check`"),
    ("ex, other = None, 1", "assigns `ex`"),
    ("vars(ex.q1)['check'] = print", "assigns `vars(ex.q1)['check']`"),
    ("setattr(ex.q1, 'check', print)", "calls `setattr(ex.q1, 'check', print)`"),
    ("from unittest import mock\nmock.patch.object(E.Question, '_verdict').start()", "calls `mock.patch.object"),
    ("import os\nos.environ['COURSE_UTILS_GRADE_RESULTS'] = 'x'", "names the grader's results variable"),
    ("E._record_for_grader(ex.q1, 'correct', '')", "uses `E._record_for_grader`"),
    ("exec('x = 1')", "runs code from a string (`exec`)"),
    ("ex.q1.solution()", "shows a solution (`ex.q1.solution()`)"),
    ("print('\\u2705 Correct!')", "writes a ✅ in its code (prints a verdict mark without a check)"),
    ("%time print(f'{1} ✅')", "writes a ✅ in its code"),
])
def test_code_flags_find_patched_checks(source, fragment):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(IMPORTS), nbformat.v4.new_code_cell(source)])
    flags = grade.code_flags(nb)
    assert any(flag.startswith("cell 2 ") and fragment in flag for flag in flags), flags


def test_code_flags_leave_honest_code_alone():
    import nbformat
    from exercise_answers import answers

    for path in sorted(exercises.EXERCISES_DIR.glob("*.ipynb")):  # the course's exercises and solutions
        assert grade.code_flags(nbformat.read(path, as_version=4)) == [], path.name
    for lesson in exercises.lessons():  # every typical mistake and unusual right answer of the tests
        lesson_id = lesson.__name__.rsplit(".", 1)[-1]
        imports = exercises.lesson_sources(lesson).setup
        for answer in answers(lesson_id):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(imports),
                                                 nbformat.v4.new_code_cell(answer.code)])
            assert grade.code_flags(nb) == [], (lesson_id, answer.question, answer.expect)
    honest = ("class Block:\n    def __init__(self):\n        self.proj = 1\n"
              "        setattr(self, 'block1', 2)\nexpected_count = 3\nprint('done')")
    assert grade.code_flags(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(IMPORTS + honest)])) == []


# ------------------------------------------------------------------------------------------------------
# The wide gradebook and the feedback, from rows
# ------------------------------------------------------------------------------------------------------

def row(student: str, question: str, status: str, submission: str = "a.ipynb", flags: str = "",
        message: str = "m") -> grade.Row:
    return grade.Row(student, submission, "lesson00", question, status, flags, message, 1.0)


def test_wide_gradebook_has_one_row_per_student():
    rows = [row("ada", "q1", "correct"), row("ada", "q2", "wrong"),
            row("ada", "q1", "wrong", "b.ipynb"), row("ada", "q2", "correct", "b.ipynb", flags="cell 3 assigns x"),
            row("ben", "q1", "error"), row("ben", "q2", "not attempted")]
    header, lines = grade.wide(rows)
    assert header == ["student", "flags", "lesson00 q1", "lesson00 q2", "total", "out_of"]
    assert lines == [["ada", "b.ipynb: cell 3 assigns x", 1, 1, 2, 2], ["ben", "", 0, 0, 0, 2]]


def test_feedback_files_are_safe_and_one_per_student():
    rows = [row("a b", "q1", "wrong", message="Your code raised ValueError: <script>alert(1)</script> & more"),
            row("a_b", "q1", "correct", message="Correct!", flags="cell 2 assigns `ex.q1._check`")]
    files = grade.feedback_files(rows)
    assert list(files) == ["a_b.md", "a_b_2.md"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in files["a_b.md"] and "<script>" not in files["a_b.md"]
    assert "**0 of 1 correct.**" in files["a_b.md"] and lesson00.q1.title in files["a_b.md"]
    assert "❌" in files["a_b.md"] and "✅" in files["a_b_2.md"]
    assert "_check" not in files["a_b_2.md"]  # flags are for the teacher


def test_outputs_are_named_after_the_gradebook(tmp_path):
    outputs = grade.Outputs.beside(tmp_path / "marks" / "week1.csv")
    assert outputs == grade.Outputs(tmp_path / "marks" / "week1.csv", tmp_path / "marks" / "week1_wide.csv",
                                    tmp_path / "marks" / "week1_summary.txt", tmp_path / "marks" / "feedback")
    assert grade.Outputs.beside("g.csv", "out").feedback == Path("out")
