"""The course's website, built with the documented command and checked in a real browser (Debian's Chromium).

The site is built once for this module into a temp folder and served on 127.0.0.1. Every page is opened once;
what each page shows (console errors, typeset math, images, links) is recorded, and each test below asserts
one kind of check over all pages, listing every page that fails it: what every page must do (no console errors,
math typeset, images loaded, links resolving, search working) and what a reader must see on it (the title
first, no test scaffolding, figures at the content's width, the exercise checkers' status marks drawn without
an emoji font, search results without TeX source). Chromium is driven through Selenium and Debian's
chromedriver, so nothing is downloaded. A screenshot of one lesson page is saved for the CI log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from local_http import LocalServer

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_COMMAND = ["mkdocs", "build", "-f", "docs/mkdocs.yml"]  # as in the README; the test adds --site-dir
SCREENSHOT = REPO_ROOT / "runs" / "site" / "02_patch_embedding.png"  # runs/ is ignored by git
SCREENSHOT_PAGE = "notebooks/02_patch_embedding/"
SEARCH_QUERY = "position embedding"
MATH_SEARCH_QUERY = "class token"  # found in sections that write $\mathbf{x}_\text{class}$
NBVAL_MARKER = re.compile(r"#\s*NBVAL_[A-Z_]+")  # docs/hooks.py keeps these out of the code shown
PROSE_GUARD = re.compile(r"update the text", re.I)  # and the asserts that say it
STATUS_MARKS = "✅❌⏳💡"  # emoji: without an emoji font, boxes; docs/hooks.py draws them as SVG
TEX_SOURCE = re.compile(r"\\[A-Za-z]+|\$")  # a TeX command or a math delimiter
FIGURE_WIDTH_SHARE = 0.95  # a figure spans at least this share of the content's width
PAGE_TIMEOUT_S = 30

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.integration,  # run by .ci/run and `pytest -m integration`, not by the plain `pytest`
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="needs Debian's Chromium and its WebDriver: apt-get install chromium chromium-driver"),
]

# Run in the page once it has loaded: wait for MathJax to finish, then report what the checks need.
INSPECT_PAGE = """
const done = arguments[arguments.length - 1];
const typeset = window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve();
typeset.catch(() => null).then(() => {
  const article = document.querySelector("article") || document.body;
  const visible = article.cloneNode(true);
  visible.querySelectorAll("pre, code, script, style, mjx-container").forEach((el) => el.remove());
  const style = getComputedStyle(article);
  const contentWidth = article.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const title = article.querySelector("h1");
  const code = Array.from(article.querySelectorAll(".jp-CodeCell, pre"));
  done({
    titleFirst: Boolean(title) && !code.some((el) => title.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING),
    allText: article.textContent,
    codeText: Array.from(article.querySelectorAll(".jp-CodeCell")).map((el) => el.textContent).join("\\n"),
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    shownText: article.innerText,
    contentWidth: contentWidth,
    figures: Array.from(article.querySelectorAll(".jp-OutputArea-output img")).map((img) => ({
      src: img.getAttribute("src").slice(0, 60), width: img.getBoundingClientRect().width})),
    statusMarks: Array.from(article.querySelectorAll("svg.status-mark")).map((svg) => {
      const box = svg.getBoundingClientRect();
      return box.width > 4 && box.height > 4;
    }),
    mathjax: Boolean(window.MathJax && MathJax.startup),
    math: document.querySelectorAll("mjx-container").length,
    mathErrors: Array.from(document.querySelectorAll("mjx-merror")).map((el) => el.textContent),
    text: visible.innerText,
    brokenImages: Array.from(document.images)
      .filter((img) => !(img.complete && img.naturalWidth > 0))
      .map((img) => img.getAttribute("src").slice(0, 120)),
    images: document.images.length,
    links: Array.from(document.querySelectorAll("a[href]")).map((a) => a.href),
    ids: Array.from(document.querySelectorAll("[id], a[name]")).map((el) => el.id || el.name),
    colab: Array.from(document.querySelectorAll("a.md-content__button[title='Open in Colab']")).map((a) => a.href),
    download: Array.from(document.querySelectorAll("a.md-content__button[download]")).map((a) => a.href),
  });
});
"""


@dataclass
class PageReport:
    """What one page showed in the browser."""

    path: str
    console_errors: list[str]
    info: dict = field(default_factory=dict)


@dataclass
class SiteReport:
    site_dir: Path
    base_url: str
    build_output: str
    pages: dict[str, PageReport]
    search_results: list[str]
    search_errors: list[str]
    math_search_results: list[str]


def build_site(site_dir: Path) -> str:
    """Build the site with the documented command into ``site_dir``; return the build's output."""
    command = [sys.executable, "-m", *BUILD_COMMAND, "--site-dir", str(site_dir)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"{' '.join(BUILD_COMMAND)} failed:\n{output[-4000:]}")
    return output


def site_pages(site_dir: Path) -> list[str]:
    """Every HTML page of the built site, as URL paths relative to its root (the 404 page left out)."""
    pages = []
    for html in sorted(site_dir.rglob("*.html")):
        relative = html.relative_to(site_dir).as_posix()
        if relative == "404.html":
            continue
        pages.append(relative.removesuffix("index.html"))
    return pages


def start_browser():
    """Headless Chromium through Debian's chromedriver, recording the console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-proxy-server", "--window-size=1280,1000", "--hide-scrollbars"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    return driver


def search(driver, base_url: str, query: str) -> list[str]:
    """Type ``query`` into the site's search box on the home page; return the results' text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base_url + "/")
    box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")
    if not box.is_displayed():  # a narrow window shows a search button instead of the box
        driver.find_element(By.CSS_SELECTOR, "label.md-header__button[for='__search']").click()
    WebDriverWait(driver, PAGE_TIMEOUT_S).until(expected_conditions.element_to_be_clickable(box)).click()
    box.send_keys(query)
    try:
        WebDriverWait(driver, PAGE_TIMEOUT_S).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
    except Exception:  # no result in time: the test below reports the empty list
        return []
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, ".md-search-result__item")]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> SiteReport:
    """Build, serve and browse the whole site once; yields what every page showed."""
    site_dir = tmp_path_factory.mktemp("site") / "site"
    start = time.perf_counter()
    build_output = build_site(site_dir)
    print(f"\nsite built in {time.perf_counter() - start:.0f} s")
    for line in build_output.splitlines():
        if line.startswith("WARNING"):
            print(f"build: {line}")  # shown with the test's output (e.g. pytest -rP); the checks below decide
    start = time.perf_counter()
    with LocalServer(site_dir) as server:
        driver = start_browser()
        try:
            pages = {}
            for path in site_pages(site_dir):
                driver.get(f"{server.url}/{path}")
                info = driver.execute_async_script(INSPECT_PAGE)
                errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
                pages[path] = PageReport(path, errors, info)
                if path == SCREENSHOT_PAGE:
                    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                    driver.save_screenshot(str(SCREENSHOT))
                    print(f"\nscreenshot of {path}: {SCREENSHOT}")
            results = search(driver, server.url, SEARCH_QUERY)
            math_results = search(driver, server.url, MATH_SEARCH_QUERY)
            search_errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            print(f"{len(pages)} pages browsed and the search box tried in {time.perf_counter() - start:.0f} s")
            yield SiteReport(site_dir, server.url, build_output, pages, results, search_errors, math_results)
        finally:
            driver.quit()


def failures(lines: list[str]) -> str:
    return "\n".join(lines[:40]) + (f"\n... and {len(lines) - 40} more" if len(lines) > 40 else "")


def test_every_page_loads_without_console_errors(site):
    assert len(site.pages) >= 20, f"only {len(site.pages)} pages were built"
    problems = [f"{page.path}: {error}" for page in site.pages.values() for error in page.console_errors]
    assert not problems, f"console errors:\n{failures(problems)}"


def notebook_has_math(page: str, site_dir: Path) -> bool:
    """Whether the notebook behind a page writes math ($...$) in its Markdown cells."""
    notebooks = list((site_dir / page).glob("*.ipynb"))
    if not notebooks:
        return False
    cells = json.loads(notebooks[0].read_text(encoding="utf-8"))["cells"]
    return any("$" in "".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")


def test_math_is_typeset(site):
    problems = []
    pages_with_math = 0
    for page in site.pages.values():
        info = page.info
        if not info["mathjax"]:
            problems.append(f"{page.path}: MathJax is not loaded")
            continue
        html = (site.site_dir / page.path / "index.html").read_text(encoding="utf-8")
        expected = notebook_has_math(page.path, site.site_dir) or 'class="arithmatex"' in html
        pages_with_math += expected
        if expected and info["math"] == 0:
            problems.append(f"{page.path}: has math in its source but no typeset equation (mjx-container)")
        for raw in ["$$", "\\[", "\\("]:
            if raw in info["text"]:
                start = info["text"].index(raw)
                problems.append(f"{page.path}: raw {raw} left in the text: {info['text'][max(0, start - 60):start + 60]!r}")
        problems += [f"{page.path}: TeX error {error!r}" for error in info["mathErrors"]]
    assert pages_with_math >= 9, f"math found on {pages_with_math} pages only"
    assert not problems, f"math not typeset:\n{failures(problems)}"


def test_every_image_loads(site):
    problems = [f"{page.path}: {src}" for page in site.pages.values() for src in page.info["brokenImages"]]
    assert sum(page.info["images"] for page in site.pages.values()) >= 20  # the notebooks' plots are there
    assert not problems, f"images that did not load (naturalWidth 0):\n{failures(problems)}"


def test_every_internal_link_resolves(site):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 directly
    links: dict[str, set[str]] = {}  # target (no fragment) -> pages linking to it
    anchors: dict[tuple[str, str], set[str]] = {}  # (page path, fragment) -> pages linking to it
    for page in site.pages.values():
        for href in page.info["links"]:
            if not href.startswith(site.base_url + "/"):
                continue  # another site: not checked offline
            url, fragment = urllib.parse.urldefrag(href)
            links.setdefault(url, set()).add(page.path)
            target = url.removeprefix(site.base_url + "/")
            if fragment and target in site.pages:
                anchors.setdefault((target, fragment), set()).add(page.path)
    problems = []
    for url, sources in sorted(links.items()):
        try:
            with opener.open(url, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        if status != 200:
            problems.append(f"{url.removeprefix(site.base_url)} -> HTTP {status}, linked from {sorted(sources)[:3]}")
    for (target, fragment), sources in sorted(anchors.items()):
        if urllib.parse.unquote(fragment) not in site.pages[target].info["ids"]:
            problems.append(f"/{target}#{fragment}: no such anchor, linked from {sorted(sources)[:3]}")
    assert len(links) >= 40, f"only {len(links)} internal links found"
    assert not problems, f"internal links that do not resolve:\n{failures(problems)}"


def test_every_notebook_page_has_colab_and_download_links(site):
    notebooks = [page for page in site.pages.values() if list((site.site_dir / page.path).glob("*.ipynb"))]
    assert len(notebooks) >= 9
    problems = []
    for page in notebooks:
        name = next((site.site_dir / page.path).glob("*.ipynb")).name
        if not any(href.startswith("https://colab.research.google.com/github/") and href.endswith(f"/{name}")
                   for href in page.info["colab"]):
            problems.append(f"{page.path}: no Open in Colab link to {name}: {page.info['colab']}")
        if page.info["download"] != [f"{site.base_url}/{page.path}{name}"]:
            problems.append(f"{page.path}: no download link to {name}: {page.info['download']}")
    assert not problems, "\n".join(problems)


def test_search_finds_position_embedding(site):
    assert not site.search_errors, f"console errors while searching: {site.search_errors}"
    assert site.search_results, f"searching {SEARCH_QUERY!r} found nothing"
    assert any(SEARCH_QUERY in re.sub(r"\s+", " ", text.lower()) for text in site.search_results), (
        site.search_results[:5])


def test_screenshot_of_a_lesson_page_is_saved(site):
    assert SCREENSHOT_PAGE in site.pages
    assert SCREENSHOT.stat().st_size > 10_000


def test_build_is_clean(site):
    """``mkdocs build --strict`` would pass: the build logs no warning (docstrings, links, anchors)."""
    warnings = [line for line in site.build_output.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)


def notebook_pages(site) -> list[PageReport]:
    """The pages made from a notebook (lessons and exercises): those with their .ipynb beside them."""
    return [page for page in site.pages.values() if list((site.site_dir / page.path).glob("*.ipynb"))]


def test_no_page_is_wider_than_the_window(site):
    problems = [f"{page.path}: {page.info['overflow']} px" for page in site.pages.values() if page.info["overflow"] > 0]
    assert not problems, f"pages that scroll sideways:\n{failures(problems)}"


def test_every_page_starts_with_its_title(site):
    problems = [page.path for page in site.pages.values() if not page.info["titleFirst"]]
    assert not problems, f"pages whose h1 is missing or comes after a code cell:\n{failures(problems)}"


def test_readers_see_no_test_scaffolding(site):
    pages = notebook_pages(site)
    assert len(pages) >= 9
    problems = []
    for page in pages:  # the code cells with their outputs (the prose may name a marker), then the whole page
        for pattern, text in [(NBVAL_MARKER, page.info["codeText"]), (PROSE_GUARD, page.info["allText"])]:
            problems += [f"{page.path}: {text[max(0, match.start() - 80):match.end() + 20]!r}"
                         for match in pattern.finditer(text)]
    assert not problems, f"nbval markers or prose guards shown to readers:\n{failures(problems)}"


def test_figures_span_the_content_width(site):
    problems, figures = [], 0
    for page in notebook_pages(site):
        width = page.info["contentWidth"]
        for figure in page.info["figures"]:
            figures += 1
            if figure["width"] < FIGURE_WIDTH_SHARE * width:
                problems.append(f"{page.path}: {figure['src']}... is {figure['width']:.0f} px wide, "
                                f"the content {width:.0f} px")
    assert figures >= 20, f"only {figures} figures found in the notebooks' outputs"
    assert not problems, f"figures narrower than the content:\n{failures(problems)}"


def test_status_marks_are_drawn_without_an_emoji_font(site):
    problems = [f"{page.path}: {mark!r} left as a character (a box without an emoji font)"
                for page in site.pages.values() for mark in STATUS_MARKS if mark in page.info["shownText"]]
    drawn = [shown for page in site.pages.values() for shown in page.info["statusMarks"]]
    problems += [f"{drawn.count(False)} status marks drawn with no size"] if not all(drawn) else []
    assert len(drawn) >= 40, f"only {len(drawn)} status marks drawn (the exercise notebooks print dozens)"
    assert not problems, failures(problems)


def test_search_shows_math_as_text(site):
    assert site.math_search_results, f"searching {MATH_SEARCH_QUERY!r} found nothing"
    problems = [text for text in site.math_search_results if TEX_SOURCE.search(text)]
    index = json.loads((site.site_dir / "search" / "search_index.json").read_text(encoding="utf-8"))
    math = re.compile(r"\$\$|\\[(\[]|\\(?:mathbf|mathrm|mathbb|text|frac|sqrt|cdot|times|top|ell)\b")  # TeX, not code
    problems += [f"index, {doc['location']}: {match.group(0)!r}" for doc in index["docs"]
                 for match in math.finditer(doc["text"])]
    assert not problems, f"TeX source in the search results or index:\n{failures(problems)}"
