"""MkDocs hooks that turn the repository, as committed, into the course's website.

``mkdocs build -f docs/mkdocs.yml`` runs them. Nothing is executed and nothing is copied by hand:

- the home page is the README; ``data/README.md`` and ``CONTRIBUTING.md`` are pages as they are;
- every notebook under ``notebooks/`` (``course_utils.colab.notebook_paths``) is a page, rendered with its
  committed outputs by mkdocs-jupyter, with a download link for its ``.ipynb`` and an "Open in Colab" link;
  the page shows the notebook as a reader wants it (``site_notebook``): the title first, the nbval test
  scaffolding (``# NBVAL_*`` markers, asserts that guard the prose) left out;
- the exercise checkers' status marks (✅ ❌ ⏳ 💡) are drawn as inline SVG, so they show without an emoji
  font, and the search index holds math as plain text rather than TeX source;
- the ``course_utils`` API reference has one page per module, written by mkdocstrings from the docstrings;
- MathJax 3 is copied from the django-static-mathjax package, so the site loads nothing from other servers.

Links between the repository's files are rewritten for the site: to a page when the target is one, else to
the file on GitHub. The navigation is built from what was found, so a new notebook or module shows up on its
own.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import posixpath
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import mathjax
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import get_toc
from mkdocs.utils import get_relative_url

from course_utils import colab

log = logging.getLogger("mkdocs.plugins.course_site")  # under "mkdocs": warnings count for --strict

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "course_utils"
MARKDOWN_PAGES = {"index.md": "README.md", "data/README.md": "data/README.md", "CONTRIBUTING.md": "CONTRIBUTING.md"}
EXERCISES_INDEX = "notebooks/exercises/index.md"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
MATHJAX_ES5 = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
MATHJAX_FILES = ["tex-chtml-full.js", "output/chtml/fonts/woff-v2/*.woff"]  # the script and the fonts it loads
NOTEBOOK_CSS_DIR = "assets/notebook"
stylesheets: dict[str, str] = {}  # site path -> CSS that nbconvert inlined in every notebook page
MARKDOWN_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
MERMAID_LOADER = re.compile(r'<script type="module">(?:(?!</script>).)*?\.jp-Mermaid.*?</script>', re.S)
HTML_HREF = re.compile(r'(<a\s[^>]*?href=")([^"]+)(")')
INLINE_STYLE = re.compile(r'<style(?: type="text/css")?>(.*?)</style>', re.S)
HTML_HEADING = re.compile(r'<h([1-6])\b[^>]*?\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)


def github_url(path: str, folder: bool = False) -> str:
    """The address of ``path`` (relative to the repository root) in the repository on GitHub."""
    return f"https://github.com/{colab.REPOSITORY}/{'tree' if folder else 'blob'}/{colab.BRANCH}/{path}"


def is_relative(target: str) -> bool:
    """True for a link to another file of the site or repository (not a URL, an anchor or an absolute path)."""
    parts = urlsplit(target)
    return not (parts.scheme or parts.netloc or target.startswith(("#", "/")))


def resolve_link(target: str, src_uri: str, site_uris: set[str]) -> tuple[str, str | None]:
    """Where a relative link ``target`` written in ``src_uri`` should point on the site.

    Returns ``("page", uri)`` when the target is a page of the site, ``("url", address)`` when it is a
    file or folder of the repository that the site does not hold, and ``("missing", None)`` otherwise.
    """
    path, _, fragment = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(src_uri), path))
    suffix = f"#{fragment}" if fragment else ""
    if resolved in site_uris:
        return "page", resolved + suffix
    if f"{resolved}/index.md" in site_uris:
        return "page", f"{resolved}/index.md" + suffix
    on_disk = REPO_ROOT / resolved
    if on_disk.exists() and not resolved.startswith(".."):
        return "url", github_url(resolved, folder=on_disk.is_dir()) + suffix
    return "missing", None


def rewrite_markdown_links(markdown: str, src_uri: str, site_uris: set[str]) -> str:
    """Point the relative links of a repository Markdown file at the site's pages or at GitHub."""

    def replace(match: re.Match) -> str:
        target = match.group(2)
        if not is_relative(target):
            return match.group(0)
        kind, where = resolve_link(target, src_uri, site_uris)
        if kind == "page":  # the path from this file; MkDocs turns it into the page's address
            uri, _, fragment = where.partition("#")
            where = posixpath.relpath(uri, posixpath.dirname(src_uri) or ".") + (f"#{fragment}" if fragment else "")
        elif kind == "missing":
            log.warning(f"{src_uri} links to {target}, which is neither a page nor a file of the repository")
            return match.group(0)
        return f"{match.group(1)}{where}{match.group(3)}"

    return MARKDOWN_LINK.sub(replace, markdown)


def module_summary(path: Path) -> str:
    """The first line of a module's docstring, read without importing it."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return docstring.strip().splitlines()[0] if docstring.strip() else ""


def api_modules() -> list[tuple[str, Path]]:
    """The public modules and subpackages of ``course_utils`` with their source files, sorted by name."""
    package_dir = REPO_ROOT / PACKAGE
    modules = [(path.stem, path) for path in package_dir.glob("*.py")]
    modules += [(path.parent.name, path) for path in package_dir.glob("*/__init__.py")]
    return sorted((name, path) for name, path in modules if not name.startswith("_"))


def api_pages() -> dict[str, str]:
    """The API reference: an index and one mkdocstrings page per module."""
    index = [
        "# API reference: `course_utils`\n",
        module_summary(REPO_ROOT / PACKAGE / "__init__.py") + "\n",
        "Every lesson builds a piece by hand, proves it equal to the package's version, then imports the "
        "package's version. Install it with `pip install -r requirements.txt` in a clone, or on Colab with "
        "the setup cell of any notebook.\n",
        "| module | what it holds |",
        "|---|---|",
    ]
    pages = {}
    for name, path in api_modules():
        pages[f"api/{name}.md"] = f"::: {PACKAGE}.{name}\n"
        index.append(f"| [`{name}`]({name}.md) | {module_summary(path)} |")
    pages["api/index.md"] = "\n".join(index) + "\n"
    return pages


def notebook_title(uri: str) -> str:
    """The first level-1 heading of a notebook's Markdown cells (its file name if it has none)."""
    for cell in json.loads((REPO_ROOT / uri).read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            for line in colab.cell_source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return posixpath.basename(uri)


def exercises_index(notebooks: list[str]) -> str:
    """A page listing every lesson's exercises notebook and its solutions."""
    lines = [
        "# Exercises\n",
        "Each lesson's exercises come as two notebooks: the exercises, with a stub to complete and a check "
        "cell after each one, and the same notebook with worked solutions. In a notebook, "
        "`ex.q1.check(answer)` says whether the answer is right or gives a specific hint about what looks "
        "wrong (never the answer), `ex.q1.hint()` gives a nudge and `ex.q1.solution()` shows a worked "
        "solution. Try the exercises before reading the solutions!\n",
        "| lesson | exercises | solutions |",
        "|---|---|---|",
    ]
    for uri in notebooks:
        name = posixpath.basename(uri)
        if not (uri.startswith("notebooks/exercises/") and name.endswith("_exercises.ipynb")):
            continue
        lesson = f"notebooks/{name.removesuffix('_exercises.ipynb')}.ipynb"
        solutions = name.replace("_exercises.ipynb", "_solutions.ipynb")
        lesson_cell = f"[{notebook_title(lesson)}](../{posixpath.basename(lesson)})" if lesson in notebooks else ""
        solutions_cell = f"[solutions]({solutions})" if f"notebooks/exercises/{solutions}" in notebooks else ""
        lines.append(f"| {lesson_cell} | [exercises]({name}) | {solutions_cell} |")
    return "\n".join(lines) + "\n"


def colab_badge_svg() -> str:
    """An "Open in Colab" badge drawn here (the site loads no image from other servers)."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="117" height="20" role="img" aria-label="Open in Colab">'
        '<title>Open in Colab</title><rect width="117" height="20" rx="3" fill="#555"/>'
        '<rect x="24" width="93" height="20" rx="3" fill="#f9ab00"/><rect x="24" width="6" height="20" fill="#f9ab00"/>'
        '<circle cx="8.5" cy="10" r="4" fill="none" stroke="#f9ab00" stroke-width="2.4"/>'
        '<circle cx="15.5" cy="10" r="4" fill="none" stroke="#f9ab00" stroke-width="2.4"/>'
        '<text x="70" y="14" fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" '
        'text-anchor="middle">Open in Colab</text></svg>\n'
    )


def notebook_uris() -> list[str]:
    """Every course notebook, as a path relative to the repository root (= its place on the site)."""
    return [path.relative_to(REPO_ROOT).as_posix() for path in colab.notebook_paths()]


def navigation(notebooks: list[str], api: list[str]) -> list:
    """The site's navigation: home, lessons, exercises, API reference, data, contributing."""
    lessons = [uri for uri in notebooks if posixpath.dirname(uri) == "notebooks"]
    exercises = [uri for uri in notebooks if uri.startswith("notebooks/exercises/")]
    return [
        {"Home": "index.md"},
        {"Lessons": lessons},
        {"Exercises": [{"All exercises": EXERCISES_INDEX}, *exercises]},
        {"API reference": [{"Overview": "api/index.md"},
                           *({posixpath.basename(uri).removesuffix(".md"): uri} for uri in sorted(api)
                             if uri != "api/index.md")]},
        {"Data": "data/README.md"},
        {"Contributing": "CONTRIBUTING.md"},
    ]


def toc_tokens(html: str) -> list[dict]:
    """The table of contents of a rendered page, nested by heading level, with the headings' own ids.

    mkdocs-jupyter derives its table of contents from a Markdown conversion of the notebook, whose anchors
    differ from the ids nbconvert gives the headings when a heading holds code or punctuation (its links
    then lead nowhere); reading the headings of the page itself keeps the two the same.
    """
    root: list[dict] = []
    stack: list[dict] = []
    for level, anchor, inner in HTML_HEADING.findall(html):
        inner = re.sub(r'<a class="headerlink".*?</a>', "", inner, flags=re.S)
        token = {"level": int(level), "id": anchor, "name": re.sub(r"<[^>]+>", "", inner).strip(), "children": []}
        while stack and stack[-1]["level"] >= token["level"]:
            stack.pop()
        (stack[-1]["children"] if stack else root).append(token)
        stack.append(token)
    return root


# --- The notebooks as the site shows them --------------------------------------------------------------------
# The committed notebooks carry what nbval and the maintainers need; a reader of the site needs the lesson.
# site_notebook() rewrites a copy of each notebook (the download link still gives the notebook as committed):
# - the title comes first: cells above the first "# " heading (the Colab badge and the setup cell) move below
#   it, the badge under the heading line and the setup cell after the title's Markdown cell;
# - in code cells, "# NBVAL_*" marker lines are left out, and so are the asserts that guard the prose rather
#   than teach: an assert whose message or comment names the text ("update the text below", "as the text
#   below says") and an ``assert FAST or ...`` (a claim of the full run). Every other assert stays: shape
#   checks and proofs that two implementations agree are how the lessons teach;
# - a code cell left with no statement is left out, or shows only its outputs if it has some;
# - the tags "remove-cell", "remove-input" and "remove-output" hide a cell, its code or its outputs by hand.
NBVAL_MARKER = re.compile(r"^[ \t]*#[ \t]*NBVAL_[A-Z_]+\b.*$")
PROSE_GUARD = re.compile(r"update the text|the text (?:below|above)", re.I)
MAGIC_LINE = re.compile(r"^([ \t]*)[%!].*$")
REMOVE_CELL, REMOVE_INPUT, REMOVE_OUTPUT = "remove-cell", "remove-input", "remove-output"
site_notebook_dir: Path | None = None  # where this build writes the notebooks as the site shows them


def line_before(line: str, offset: int) -> str:
    """The text of ``line`` before a node's column ``offset`` (which ``ast`` counts in UTF-8 bytes)."""
    return line.encode()[:offset].decode(errors="replace")


def line_after(line: str, offset: int) -> str:
    """The text of ``line`` after a node's end column ``offset`` (in UTF-8 bytes)."""
    return line.encode()[offset:].decode(errors="replace")


def is_scaffolding(node: ast.Assert, lines: list[str]) -> bool:
    """Whether an assert guards the prose (hidden on the site) rather than teaches (see above)."""
    message = ast.unparse(node.msg) if node.msg is not None else ""
    comment = line_after(lines[node.end_lineno - 1], node.end_col_offset)
    if PROSE_GUARD.search(message) or PROSE_GUARD.search(comment):
        return True
    test = node.test
    return (isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or)
            and isinstance(test.values[0], ast.Name) and test.values[0].id == "FAST")


def only_scaffolding(node: ast.stmt, lines: list[str]) -> bool:
    """Whether a statement is a scaffolding assert, or a loop, ``if`` or ``with`` that holds nothing else."""
    if isinstance(node, ast.Assert):
        return is_scaffolding(node, lines)
    if isinstance(node, ast.For | ast.While | ast.If | ast.With):
        return all(only_scaffolding(child, lines) for child in [*node.body, *getattr(node, "orelse", [])])
    return False


def scaffolding_lines(source: str) -> set[int]:
    """The 0-based lines of ``source`` that hold test scaffolding: NBVAL markers and scaffolding asserts.

    A statement is left in when it cannot go on its own: it shares a line with other code, or it is all that
    its block holds. Code that does not parse (a cell magic) keeps everything but its markers.
    """
    lines = source.splitlines()
    hidden = {number for number, line in enumerate(lines) if NBVAL_MARKER.match(line)}
    parsable = "\n".join(MAGIC_LINE.sub(r"\1pass", line) for line in lines)  # %pip, !ls: statements for ast
    try:
        tree = ast.parse(parsable)
    except SyntaxError:
        return hidden
    for parent in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(parent, name, None)
            if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                continue
            removable = [node for node in block if only_scaffolding(node, lines)]
            if len(removable) == len(block) and not isinstance(parent, ast.Module):
                continue  # an empty block is no Python: the statement that holds it goes, or nothing does
            for node in removable:
                first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
                alone = (line_before(first, node.col_offset).strip() == ""
                         and re.fullmatch(r"\s*(#.*)?", line_after(last, node.end_col_offset)) is not None)
                if alone:
                    hidden.update(range(node.lineno - 1, node.end_lineno))
    return hidden


def strip_scaffolding(source: str) -> str:
    """``source`` without its test scaffolding, and without the blank lines the removal leaves behind."""
    lines = source.splitlines()
    hidden = scaffolding_lines(source)
    kept: list[str] = []
    for number, line in enumerate(lines):
        if number in hidden:
            continue
        follows_removal = number > 0 and number - 1 in hidden
        if follows_removal and not line.strip() and (not kept or not kept[-1].strip()):
            continue  # a blank line after a removed one, following a blank line or the cell's start
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def has_statements(source: str) -> bool:
    """Whether code has anything but comments and blank lines."""
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def heading_line(cell: dict) -> int | None:
    """The number of the first level-1 heading line of a Markdown cell, or None."""
    if cell["cell_type"] != "markdown":
        return None
    return next((number for number, line in enumerate(colab.cell_source(cell).splitlines())
                 if line.startswith("# ")), None)


def title_first(cells: list[dict]) -> list[dict]:
    """Move the cells above the notebook's title (the Colab badge and the setup cell) below it."""
    index = next((number for number, cell in enumerate(cells) if heading_line(cell) is not None), 0)
    if index == 0:
        return cells
    heading, lines = heading_line(cells[index]), colab.cell_source(cells[index]).splitlines()
    above = cells[:index]
    badges = [colab.cell_source(cell).strip() for cell in above if cell["cell_type"] == "markdown"]
    source = "\n\n".join(["\n".join(lines[:heading + 1]), *badges, "\n".join(lines[heading + 1:]).strip()])
    title = {**cells[index], "source": source.strip() + "\n"}
    code = [cell for cell in above if cell["cell_type"] != "markdown"]
    return [title, *code, *cells[index + 1:]]


def reader_cell(cell: dict) -> dict | None:
    """A cell as the site shows it (see above), or None when the site leaves it out."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    if REMOVE_CELL in tags:
        return None
    if cell["cell_type"] != "code":
        return cell
    cell = {**cell, "metadata": dict(cell.get("metadata", {})), "source": strip_scaffolding(colab.cell_source(cell))}
    if REMOVE_OUTPUT in tags:
        cell["outputs"] = []
    if REMOVE_INPUT in tags or not has_statements(cell["source"]):
        if not cell.get("outputs"):
            return None
        cell["metadata"]["transient"] = {"remove_source": True}  # nbconvert's templates then skip the input
    return cell


def site_notebook(notebook: dict) -> dict:
    """A notebook as its page shows it: the title first and the test scaffolding left out (see above)."""
    cells = [reader_cell(cell) for cell in title_first(notebook["cells"])]
    return {**notebook, "cells": [cell for cell in cells if cell is not None]}


def write_site_notebooks(uris: list[str]) -> Path:
    """Write the notebooks as the site shows them into a new temporary folder (one per build); return it."""
    global site_notebook_dir
    remove_site_notebooks()
    site_notebook_dir = Path(tempfile.mkdtemp(prefix="site-notebooks-"))
    for uri in uris:
        notebook = json.loads((REPO_ROOT / uri).read_text(encoding="utf-8"))
        target = site_notebook_dir / uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(site_notebook(notebook), ensure_ascii=False, indent=1), encoding="utf-8")
    return site_notebook_dir


def remove_site_notebooks() -> None:
    """Delete this build's rewritten notebooks."""
    global site_notebook_dir
    if site_notebook_dir is not None:
        shutil.rmtree(site_notebook_dir, ignore_errors=True)
        site_notebook_dir = None


# --- Status marks and math in the search index -----------------------------------------------------------------
def status_mark_svg(label: str, body: str) -> str:
    """An inline 16x16 SVG icon for a status mark, sized to the text around it."""
    return (f'<svg class="status-mark" role="img" aria-label="{label}" viewBox="0 0 16 16" width="1.15em" '
            f'height="1.15em" xmlns="http://www.w3.org/2000/svg">{body}</svg>')


STATUS_MARKS = {  # the exercise checkers' marks (course_utils/exercises): emoji that many systems draw as boxes
    "✅": status_mark_svg("correct", '<rect width="16" height="16" rx="3" fill="#2e9e44"/><path d="M4 8.4l2.7 '
                          '2.7L12.2 5.2" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" '
                          'stroke-linejoin="round"/>'),
    "❌": status_mark_svg("wrong", '<path d="M3.5 3.5l9 9M12.5 3.5l-9 9" stroke="#d93025" stroke-width="2.6" '
                          'stroke-linecap="round"/>'),
    "⏳": status_mark_svg("not attempted yet", '<path d="M3.5 1.5h9M3.5 14.5h9" stroke="#7a5c1e" '
                          'stroke-width="1.4" stroke-linecap="round"/><path d="M4.8 2v2.3c0 1.5 2.6 2.6 2.6 3.7S4.8 '
                          '10.2 4.8 11.7V14h6.4v-2.3c0-1.5-2.6-2.6-2.6-3.7s2.6-2.2 2.6-3.7V2z" fill="#fdecc0" '
                          'stroke="#7a5c1e" stroke-width="1"/><path d="M5.9 13.2c.6-1 1.4-1.6 2.1-1.8.7.2 1.5.8 '
                          '2.1 1.8z" fill="#e0a526"/>'),
    "💡": status_mark_svg("hint", '<path d="M8 1.3a4.6 4.6 0 0 0-2.7 8.3c.5.4.7.9.7 1.4v1h4v-1c0-.5.2-1 .7-1.4A4.6 '
                          '4.6 0 0 0 8 1.3z" fill="#ffd54f" stroke="#a87b00" stroke-width=".9"/><path d="M6.2 '
                          '13.4h3.6M6.8 14.9h2.4" stroke="#666" stroke-width="1.1" stroke-linecap="round"/>'),
}
STATUS_MARK = re.compile(f"(?:{'|'.join(STATUS_MARKS)})\ufe0f?")  # with or without the emoji presentation selector
HTML_TAG = re.compile(r"(<[^>]*>)")
RAW_TEXT_ELEMENTS = re.compile(r'<(script|style|textarea|title)\b|<div\b[^>]*\bclass="clipboard-copy-txt"', re.I)


def draw_status_marks(html: str) -> str:
    """Replace the status marks in the text of a page (not in tags, scripts or copy-button text) by SVG."""
    parts = HTML_TAG.split(html)
    closing: str | None = None  # the end tag of the raw-text element being skipped
    for index, part in enumerate(parts):
        if part.startswith("<"):
            if closing is None and (match := RAW_TEXT_ELEMENTS.match(part)):
                closing = f"</{match.group(1) or 'div'}"
            elif closing is not None and part.lower().startswith(closing):
                closing = None
        elif closing is None and part:
            parts[index] = STATUS_MARK.sub(lambda match: STATUS_MARKS[match.group(0)[0]], part)
    return "".join(parts)


INLINE_MATH = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?![\w$])",
                         re.S)
TEX_SYMBOLS = {
    "times": "×", "cdot": "·", "cdots": "⋯", "ldots": "…", "dots": "…", "in": "∈", "le": "≤", "leq": "≤",
    "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "approx": "≈", "sim": "∼", "to": "→", "rightarrow": "→",
    "leftarrow": "←", "infty": "∞", "sum": "Σ", "prod": "Π", "sqrt": "√", "partial": "∂", "nabla": "∇",
    "top": "ᵀ", "ell": "ℓ", "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε",
    "varepsilon": "ε", "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "phi": "φ", "psi": "ψ", "omega": "ω", "Delta": "Δ", "Sigma": "Σ", "Omega": "Ω",
    **{name: name for name in ("log", "exp", "max", "min", "sin", "cos", "arg", "dim", "det")},
    **{space: " " for space in (",", ";", ":", " ", "\\", "quad", "qquad")}, "!": "",
}
TEX_GROUP = re.compile(r"([_^])\{([^{}]*)\}")  # a sub- or superscript in braces, innermost first


def plain_script(match: re.Match) -> str:
    """``_{pos}`` -> ``_pos``; ``^{(P^2 C) D}`` -> ``^((P^2 C) D)``."""
    inner = match.group(2)
    return match.group(1) + (inner if re.fullmatch(r"[\w.']*", inner) else f"({inner})")


def plain_math(tex: str) -> str:
    """TeX as readable plain text for the search index: ``\\mathbf{x}_\\text{class}`` -> ``x_class``."""
    text = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)\b", "", tex)
    text = re.sub(r"\\mathbb\{R\}", "ℝ", text)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = re.sub(r"\\([A-Za-z]+|[,;:! \\])", lambda match: TEX_SYMBOLS.get(match.group(1), ""), text)
    while TEX_GROUP.search(text):
        text = TEX_GROUP.sub(plain_script, text)
    text = text.replace("{", "").replace("}", "").replace("&", " ")
    return re.sub(r"\s+", " ", text).strip()


def plain_math_in_text(text: str) -> str:
    """Every $...$, $$...$$, \\(...\\) and \\[...\\] of ``text`` as plain text (``plain_math``)."""
    return INLINE_MATH.sub(lambda match: plain_math(next(group for group in match.groups() if group is not None)),
                           text)


def plain_math_in_search_index(site_dir: Path) -> None:
    """Rewrite the math of the search index (titles and text) as plain text: result snippets show no TeX."""
    index_path = site_dir / "search" / "search_index.json"
    if not index_path.exists():
        return
    index = json.loads(index_path.read_text(encoding="utf-8"))
    for doc in index.get("docs", []):
        for key in ("title", "text"):
            if isinstance(doc.get(key), str):
                doc[key] = plain_math_in_text(doc[key])
    index_path.write_text(json.dumps(index, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Link the repository on GitHub in the footer (a plain link: no calls to GitHub's API)."""
    config.extra.setdefault("social", []).append(
        {"icon": "fontawesome/brands/github", "link": f"https://github.com/{colab.REPOSITORY}",
         "name": f"{colab.REPOSITORY} on GitHub"})
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns the .ipynb files into pages
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the repository's pages, the API reference, MathJax and the badge; set the navigation."""
    notebooks = notebook_uris()
    api = api_pages()
    site_uris = {*MARKDOWN_PAGES, *notebooks, *api, EXERCISES_INDEX}
    shown = write_site_notebooks(notebooks)  # what each page renders; the download is the notebook as committed
    for uri in notebooks:
        files.append(File(uri, str(shown), config.site_dir, config.use_directory_urls))
    for uri, source in MARKDOWN_PAGES.items():
        text = (REPO_ROOT / source).read_text(encoding="utf-8")
        files.append(File.generated(config, uri, content=rewrite_markdown_links(text, uri, site_uris)))
    for uri, text in api.items():
        files.append(File.generated(config, uri, content=text))
    files.append(File.generated(config, EXERCISES_INDEX, content=exercises_index(notebooks)))
    files.append(File.generated(config, "assets/colab-badge.svg", content=colab_badge_svg()))
    for pattern in MATHJAX_FILES:
        for path in sorted(MATHJAX_ES5.glob(pattern)):
            uri = f"assets/mathjax/{path.relative_to(MATHJAX_ES5).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    config.nav = navigation(notebooks, list(api))
    return files


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Every page: draw the status marks. Notebook pages: drop nbconvert's MathJax 2 and Mermaid loaders (both from a CDN; the site has MathJax 3),
    show the local Colab badge, point links between notebooks at their pages, make heading anchors MkDocs'
    own, take the table of contents from the page's own headings, and move the inlined styles to shared
    files."""
    html = draw_status_marks(html)
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    html = re.sub(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", "", html, flags=re.S)
    html = MERMAID_LOADER.sub("", html)  # imports Mermaid from a CDN if a cell has a diagram; none has
    badge = files.get_file_from_path("assets/colab-badge.svg")
    html = html.replace(COLAB_BADGE, badge.url_relative_to(page.file))
    site_uris = {file.src_uri for file in files if file.is_documentation_page()}

    def replace(match: re.Match) -> str:
        target = match.group(2).replace("&amp;", "&")
        if not is_relative(target):
            return match.group(0)
        kind, where = resolve_link(target, page.file.src_uri, site_uris)
        if kind == "missing":
            log.warning(f"{page.file.src_uri} links to {target}, which is neither a page nor a file of the "
                        "repository")
            return match.group(0)
        if kind == "page":
            uri, _, fragment = where.partition("#")
            where = files.get_file_from_path(uri).url_relative_to(page.file) + (f"#{fragment}" if fragment else "")
        return f"{match.group(1)}{where}{match.group(3)}"

    html = HTML_HREF.sub(replace, html)
    # nbconvert's heading anchors as MkDocs writes them: shown on hover, kept out of the search index
    html = html.replace('<a class="anchor-link" href=', '<a class="headerlink" title="Permanent link" href=')
    page.toc = get_toc(toc_tokens(html))
    return INLINE_STYLE.sub(lambda match: stylesheet_link(match.group(1), page), html)


def stylesheet_link(css: str, page: Page) -> str:
    """A link to a shared file holding ``css``, written by ``on_post_build``.

    nbconvert inlines the same 590 kB of JupyterLab styles into every notebook page; one file, cached by
    the browser, makes each page about a quarter of the size.
    """
    path = f"{NOTEBOOK_CSS_DIR}/{hashlib.sha256(css.encode()).hexdigest()[:16]}.css"
    stylesheets[path] = css
    return f'<link rel="stylesheet" href="{get_relative_url(path, page.url)}">'


def on_pre_build(config: MkDocsConfig) -> None:
    """Start each build (``mkdocs serve`` rebuilds) with no stylesheet collected."""
    stylesheets.clear()


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    """Copy a notebook page's notebook, as committed, beside the page: its download link points to it."""
    if page.file.src_uri.endswith(".ipynb"):
        target = Path(page.file.abs_dest_path).parent / posixpath.basename(page.file.src_uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / page.file.src_uri, target)
    return output


@event_priority(-100)  # after the search plugin has written its index
def on_post_build(config: MkDocsConfig) -> None:
    """Write the notebook pages' shared stylesheets, turn the search index's math into plain text and delete
    the build's rewritten notebooks."""
    for path, css in stylesheets.items():
        target = Path(config.site_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(css, encoding="utf-8")
    plain_math_in_search_index(Path(config.site_dir))
    remove_site_notebooks()


def on_build_error(error: Exception) -> None:
    """Delete the build's rewritten notebooks when the build fails."""
    remove_site_notebooks()


def on_page_context(context: dict, page: Page, config: MkDocsConfig, nav: object) -> dict:
    """Notebook pages get ``colab_url`` and ``notebook_file`` for the buttons in overrides/main.html."""
    if page.file.src_uri.endswith(".ipynb"):
        page.meta["colab_url"] = colab.colab_url(page.file.src_uri)
        page.meta["notebook_file"] = posixpath.basename(page.file.src_uri)
    return context
