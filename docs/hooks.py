"""MkDocs hooks that turn the repository, as committed, into the course's website.

``mkdocs build -f docs/mkdocs.yml`` runs them. Nothing is executed and nothing is copied by hand:

- the home page is the README; ``data/README.md`` and ``CONTRIBUTING.md`` are pages as they are;
- every notebook under ``notebooks/`` (``course_utils.colab.notebook_paths``) is a page, rendered with its
  committed outputs by mkdocs-jupyter, with a download link for its ``.ipynb`` and an "Open in Colab" link;
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
    for uri in notebooks:
        files.append(File(uri, str(REPO_ROOT), config.site_dir, config.use_directory_urls))
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
    """Notebook pages: drop nbconvert's MathJax 2 and Mermaid loaders (both from a CDN; the site has MathJax 3),
    show the local Colab badge, point links between notebooks at their pages, make heading anchors MkDocs'
    own, take the table of contents from the page's own headings, and move the inlined styles to shared
    files."""
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


def on_post_build(config: MkDocsConfig) -> None:
    """Write the notebook pages' shared stylesheets."""
    for path, css in stylesheets.items():
        target = Path(config.site_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(css, encoding="utf-8")


def on_page_context(context: dict, page: Page, config: MkDocsConfig, nav: object) -> dict:
    """Notebook pages get ``colab_url`` and ``notebook_file`` for the buttons in overrides/main.html."""
    if page.file.src_uri.endswith(".ipynb"):
        page.meta["colab_url"] = colab.colab_url(page.file.src_uri)
        page.meta["notebook_file"] = posixpath.basename(page.file.src_uri)
    return context
