"""The reading-group pages (docs/annotated): up to date with the method files, their code verbatim from the files,
every equation converted, and rendered by a real browser where one is installed."""
import html
import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT

sys.path.insert(0, os.path.join(ROOT, "docs"))
import annotate  # noqa: E402

PAGES = [f"{name}.html" for name in annotate.PAGES] + ["index.html"]


def test_the_committed_pages_are_what_the_sources_give():
    assert annotate.main(["--check"]) == 0, "run python docs/annotate.py"


def project_copy(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in annotate.PAGES:
        shutil.copy(os.path.join(ROOT, f"{name}.py"), tmp_path)
    shutil.copytree(os.path.join(ROOT, "docs", "annotated"), tmp_path / "docs" / "annotated")
    if os.path.exists(os.path.join(ROOT, "docs", "claims.md")):
        shutil.copy(os.path.join(ROOT, "docs", "claims.md"), tmp_path / "docs")
    return tmp_path


def test_check_fails_after_an_edit_to_a_method_file(tmp_path):
    project_copy(tmp_path)
    assert annotate.main(["--check", "--root", str(tmp_path)]) == 0
    source = (tmp_path / "slogan.py").read_text()
    (tmp_path / "slogan.py").write_text(source.replace("return 0.5 * (cost(quotient_fake)", "return 0.25 * (cost(quotient_fake)"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "docs" / "annotated").iterdir() if p.is_file()}
    assert annotate.main(["--check", "--root", str(tmp_path)]) == 1
    assert before == {p.name: p.read_bytes() for p in (tmp_path / "docs" / "annotated").iterdir() if p.is_file()}
    annotate.main(["--root", str(tmp_path)])  # regenerated: up to date again, and the page shows the edit
    assert annotate.main(["--check", "--root", str(tmp_path)]) == 0
    shown = html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "docs/annotated/slogan.html").read_text()))
    assert "return 0.25 * (cost(quotient_fake)" in shown


def test_a_renamed_function_stops_the_generation_with_its_name(tmp_path, capsys):
    project_copy(tmp_path)
    (tmp_path / "wgangp.py").write_text((tmp_path / "wgangp.py").read_text().replace("def gradient_penalty(",
                                                                                     "def grad_penalty("))
    assert annotate.main(["--root", str(tmp_path)]) == 2
    assert "wgangp.py has no 'gradient_penalty'" in capsys.readouterr().err


@pytest.mark.parametrize("page", PAGES)
def test_every_code_block_is_the_files_own_and_every_equation_converted(page):
    text = open(os.path.join(ROOT, "docs", "annotated", page), encoding="utf-8").read()
    sections = re.findall(r'<section class="pair" id="[^"]*" data-file="(\w+)\.py">(.*?)</section>', text, re.S)
    for name, body in sections:
        lines = open(os.path.join(ROOT, f"{name}.py"), encoding="utf-8").read().splitlines()
        blocks = re.findall(r'<(pre|code) class="lines( context)?" data-line="(\d+)">(.*?)</\1>', body, re.S)
        assert blocks, (page, name)
        follows = None
        for _, context, line, code in blocks:
            code = html.unescape(re.sub(r"<[^>]+>", "", code)).split("\n")
            start = int(line) - 1
            assert code == lines[start:start + len(code)], (page, line)
            assert follows is None or start == follows, (page, line, "a line left out")
            follows = None if context else start + len(code)  # after the loop's header: the part (a gap)
    if page != "index.html":
        assert len(sections) >= 4, page
    for math in re.findall(r"<math.*?</math>", text, re.S):
        assert "\\" not in math, math[:200]  # a LaTeX command latex2mathml did not know
    if page != "index.html":
        for needed in ("arxiv.org/abs/" if "slogan" not in page else "lernapparat.de", "Notation", "Try it",
                       "Questions for discussion", 'class="pair"'):
            assert needed in text, (page, needed)
        for src in re.findall(r'<img src="([^"]+)"', text):  # the pictures exist
            assert os.path.isfile(os.path.join(ROOT, "docs", "annotated", src)), src
        claims = text.split('<section class="wide claims">', 1)[1].split("</section>", 1)[0]
        words = html.unescape(re.sub(r"<[^>]+>", "", claims))  # what a reader sees of the ledger's rows
        for markdown in ("###", "<!--", "-->", "!["):
            assert markdown not in words, (page, markdown)  # every heading, marker and picture rendered
        assert "<table>" in claims, page


@pytest.mark.parametrize("name", annotate.PAGES)
def test_every_line_of_the_method_that_states_an_equation_has_its_own_note(name):
    """A line of a method function with an end-of-line comment (where the files write a line's equation) sits in
    a row with its own line note on the page, not only under the function's general note."""
    source = open(os.path.join(ROOT, f"{name}.py"), encoding="utf-8").read()
    method = source.split("# ---- the method")[1].split("# ---- end of the method")[0]
    functions = {node.name for node in annotate.ast.parse(source).body if hasattr(node, "name")
                 and f"def {node.name}(" in method}
    shown = [(key, text) for key, text in annotate.read_notes(ROOT, name)["sections"] if key in functions]
    assert len(shown) >= 2, name
    for key, text in shown:
        _, lines, _ = annotate.code_of(source, key, name)
        rows = annotate.gloss_rows(lines, annotate.split_glosses(text)[1], key)
        glossed = {i for _, first, count in rows[1:] for i in range(first, first + count)}
        for i, line in enumerate(lines):
            code = line.split("  # ")[0]
            if "  # " in line and code.strip() and not code.strip().startswith(("def ", "if kind")):
                assert i in glossed, f"{name}.py {key}: {line.strip()[:80]!r} has no line note"


def test_the_loop_is_shown_around_the_critic_and_generator_steps():
    text = open(os.path.join(ROOT, "docs", "annotated", "wgangp.html"), encoding="utf-8").read()

    def code(section):  # [(file line, text)] of the section's code blocks
        body = re.search(rf'<section class="pair" id="{section}".*?</section>', text, re.S).group(0)
        return [(int(line), html.unescape(re.sub(r"<[^>]+>", "", block))) for _, _, line, block in
                re.findall(r'<(pre|code) class="lines( context)?" data-line="(\d+)">(.*?)</\1>', body, re.S)]
    loop = "for step in run.steps(start):"
    assert not any(loop in block for _, block in code("main-data-nets-optimisers"))
    assert code("main-critic")[0][1].lstrip().startswith(loop)  # the critic part opens the loop
    generator = code("main-generator")
    assert generator[0][1].lstrip().startswith(loop) and generator[1][0] > generator[0][0] + 1  # shown, then a gap
    assert "⋮ lines" in text


# ---- a real browser: Chromium over the DevTools protocol (tests/browser.py), at a laptop's and a tablet's width ----

# What a reader would see go wrong, measured in the rendered page. Every <details> is opened first (a folded
# docstring must not wrap either). At 1366 px no code line may wrap or be wider than its box; at 800 px a long
# line wraps under itself, and nothing of a line (its end-of-line equation comment least of all) may be hidden.
CHECKS = r"""((narrow, mathFont) => {
  const problems = [];
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('math').forEach((m, i) => {
    const r = m.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) problems.push(`math #${i}: no rendered box`);
    if (m.querySelector('merror')) problems.push(`math #${i}: an error element`);
    const note = m.closest('.note');
    if (note && r.right > note.getBoundingClientRect().right + 1)
      problems.push(`math #${i}: overflows its note by ${Math.round(r.right - note.getBoundingClientRect().right)} px`);
  });
  document.querySelectorAll('mfrac').forEach((f, i) => {
    const [top, bottom] = f.children;
    if (top.getBoundingClientRect().bottom > bottom.getBoundingClientRect().top + 1)
      problems.push(`fraction #${i}: the numerator is not above the denominator (MathML not laid out)`);
  });
  if (mathFont) document.querySelectorAll('mo[fence="true"]').forEach((fence, i) => {
    const fraction = [...fence.parentElement.children].find(sibling => sibling.tagName === 'mfrac');
    if (fraction && fence.getBoundingClientRect().height < 0.9 * fraction.getBoundingClientRect().height)
      problems.push(`fence #${i} ${fence.textContent}: shorter than the fraction it encloses (does not stretch)`);
  });
  document.querySelectorAll('.lines').forEach(el => {
    const lines = el.textContent.split('\n').length, height = el.getBoundingClientRect().height;
    const lineHeight = parseFloat(getComputedStyle(el).lineHeight);
    if (!narrow && height > (lines + 0.5) * lineHeight)
      problems.push(`code at line ${el.dataset.line}: ${lines} line(s) take ${Math.round(height / lineHeight)} (wrapped)`);
    const box = el.closest('.code'), r = box.getBoundingClientRect();
    if (el.scrollWidth > box.clientWidth + 1)
      problems.push(`code at line ${el.dataset.line}: cut off (${el.scrollWidth} px of text in a ${box.clientWidth} px box)`);
    if (r.right > innerWidth + 1) problems.push(`code at line ${el.dataset.line}: beyond the window's right edge`);
    el.querySelectorAll('.c').forEach(comment => {
      for (const part of comment.getClientRects())
        if (part.right > r.right + 1 || part.right > innerWidth + 1) {
          problems.push(`code at line ${el.dataset.line}: its comment ${comment.textContent.slice(0, 30)} is not visible`);
          break;
        }
    });
  });
  if (!narrow) document.querySelectorAll('section.pair > .code').forEach(box => {
    const kids = [...box.children], style = getComputedStyle(box);
    if (!kids.length) return;
    const used = kids[kids.length - 1].getBoundingClientRect().bottom - kids[0].getBoundingClientRect().top;
    const blank = box.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom) - used;
    if (blank > 2 * parseFloat(style.lineHeight))
      problems.push(`code at line ${box.querySelector('[data-line]')?.dataset.line}: ${Math.round(blank)} px blank inside its box`);
  });
  if (document.documentElement.scrollWidth > innerWidth + 1)
    problems.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${innerWidth} px window`);
  document.querySelectorAll('img').forEach(img => {
    if (!img.complete || img.naturalWidth === 0) problems.push(`picture ${img.getAttribute('src')}: not loaded`);
  });
  document.querySelectorAll('a[href^="#"]').forEach(a => {
    if (!document.getElementById(a.getAttribute('href').slice(1))) problems.push(`link ${a.getAttribute('href')}: no such anchor`);
  });
  const links = [...document.querySelectorAll('a[href], link[href], img[src]')].map(a => a.href || a.src);
  return {problems, links};
})"""


def math_font_installed():
    """Whether the system has a font with an OpenType MATH table (DejaVu Math TeX Gyre, Latin Modern Math, STIX Two
    Math...): without one no browser stretches MathML's brackets, whatever the page says."""
    try:
        fonts = subprocess.run(["fc-list"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any("Math" in line for line in fonts.splitlines())


def rendered_problems(browser, path, width):
    """What is wrong with the page at `path` in the browser at `width` CSS pixels: [] when nothing."""
    from urllib.parse import unquote, urlparse
    page = browser.open("file://" + os.path.abspath(path), width)
    try:
        narrow, math_font = width < 1200, math_font_installed()
        found = page.evaluate(f"{CHECKS}({str(narrow).lower()}, {str(math_font).lower()})")
        problems = found["problems"]
        for link in found["links"]:
            url = urlparse(link)
            if url.scheme == "file" and not os.path.exists(unquote(url.path)):
                problems.append(f"link {unquote(url.path)}: no such file")
        return problems + [f"console: {line}" for line in page.console_errors]
    finally:
        page.close()


@pytest.fixture(scope="module")
def browser():
    from browser import Browser, BrowserError, find_chromium
    if find_chromium() is None:
        pytest.skip("no chromium here (.ci/run installs it with apt-get where it can)")
    try:
        b = Browser(find_chromium())
        b.send("Browser.getVersion")
    except (BrowserError, OSError) as e:  # the browser itself cannot run here (no libraries, no shared memory)
        pytest.skip(f"chromium does not start here: {e}")
    yield b
    b.close()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("width", [1366, 800])
def test_a_real_browser_shows_every_equation_code_line_picture_and_link(browser, page, width):
    assert rendered_problems(browser, os.path.join(ROOT, "docs", "annotated", page), width) == []


def pages_copy(tmp_path):
    """The pages with everything they link to: docs/annotated, the pictures in docs/, the method files."""
    root = project_copy(tmp_path)
    for name in os.listdir(os.path.join(ROOT, "docs")):
        if name.endswith((".png", ".md")):
            shutil.copy(os.path.join(ROOT, "docs", name), root / "docs")
    return root


BROKEN = {  # name: (what is done to the page, what the check must say)
    "math not laid out": (lambda t: t.replace("</head>", "<style>math, math * { display: inline !important; }</style></head>"),
                          "the numerator is not above the denominator"),
    "math hidden": (lambda t: t.replace("</head>", "<style>math { display: none !important; }</style></head>"),
                    "no rendered box"),
    "math error": (lambda t: t.replace("<mi>", "<merror><mtext>\\oops</mtext></merror><mi>", 1), "an error element"),
    "fences do not stretch": (lambda t: t.replace('stretchy="true" fence="true"', 'stretchy="false" fence="true"'),
                              "does not stretch"),
    "code wraps": (lambda t: t.replace("</head>", "<style>.lines { white-space: pre-wrap !important; } "
                                                  "section.pair > .code { width: 50ch !important; }</style></head>"),
                   "(wrapped)"),
    "code cut off": (lambda t: t.replace("</head>", "<style>section.pair > .code { width: 50ch !important; "
                                                    "overflow: hidden !important; }</style></head>"), "cut off"),
    "code off the page": (lambda t: t.replace("</head>", "<style>section.pair { grid-template-columns: 30rem 1300px "
                                                         "!important; }</style></head>"), "beyond the window's right edge"),
    "style sheet missing": (lambda t: t.replace('href="style.css"', 'href="styles.css"'), "styles.css: no such file"),
    "picture broken": (lambda t: t.replace('<img src="../', '<img src="../no-', 1), "not loaded"),
    "link broken": (lambda t: t.replace('<a href="dragan.html">', '<a href="dragon.html">', 1), "dragon.html: no such file"),
    "anchor broken": (lambda t: t.replace("</footer>", '<a href="#nowhere">x</a></footer>'), "#nowhere: no such anchor"),
    "style sheet missing (console)": (lambda t: t.replace('href="style.css"', 'href="styles.css"'), "ERR_FILE_NOT_FOUND"),
    "console error": (lambda t: t.replace("</body>", "<script>console.error('boom')</script></body>"), "console: boom"),
    "equation wider than its note": (lambda t: t.replace("</head>", "<style>.note.gloss { width: 4rem; } "
                                                              ".note.gloss math { max-width: none !important; }</style></head>"),
                                     "overflows its note"),
    "blank inside the code": (lambda t: t.replace("</head>", "<style>section.pair > .code { align-self: stretch "
                                                            "!important; } .note.gloss { padding-bottom: 30rem; }</style></head>"),
                              "blank inside its box"),
    "comment scrolled away at 800 px": (lambda t: t.replace("</head>", "<style>.lines { white-space: pre !important; } "
                                                                      ".lines .l { display: inline !important; } section.pair > .code "
                                                                      "{ overflow-x: auto !important; }</style></head>"), "not visible"),
}
WIDTH = {"comment scrolled away at 800 px": 800}  # the others at 1366 px


@pytest.mark.slow
@pytest.mark.parametrize("broken", BROKEN)
def test_the_browser_check_fails_on_a_page_broken_that_way(browser, broken, tmp_path):
    if "fences" in broken and not math_font_installed():
        pytest.skip("no font with a MATH table here (fonts-dejavu-extra): brackets cannot stretch on any page")
    root = pages_copy(tmp_path)
    page = root / "docs" / "annotated" / ("slogan.html" if "fences" in broken else "wgangp.html")  # \left( \right)
    assert rendered_problems(browser, page, WIDTH.get(broken, 1366)) == []  # the copy itself is whole
    edit, said = BROKEN[broken]
    page.write_text(edit(page.read_text()))
    problems = rendered_problems(browser, page, WIDTH.get(broken, 1366))
    assert any(said in problem for problem in problems), problems


def test_annotate_says_one_line_for_every_problem_with_its_sources(tmp_path, capsys, monkeypatch):
    def one_line(argv, said):
        assert annotate.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: annotate:") and err.count("\n") == 1 and said in err, err
    one_line(["--root", str(tmp_path / "nope")], "not this project's folder")
    (tmp_path / "empty").mkdir()
    one_line(["--root", str(tmp_path / "empty")], "not this project's folder")
    root = project_copy(tmp_path / "copy")
    notes = root / "docs" / "annotated" / "notes" / "slogan.txt"
    text = notes.read_text()
    notes.write_text(text + "\n== why\nagain\n")
    one_line(["--root", str(root)], "the section '== why' twice")
    notes.write_text(text.replace("== why\n", "== why\n$\\frac{a}$ "))
    one_line(["--root", str(root)], "<mfrac> with 1 part(s)")
    notes.write_bytes(text.encode("utf-8") + "caf\xe9".encode("latin-1"))
    one_line(["--root", str(root)], "not UTF-8")
    notes.unlink()
    one_line(["--root", str(root)], "no such file")
    os.mkfifo(notes)  # a named pipe would block a reader: refused, not read
    one_line(["--root", str(root)], "not a regular file")
    notes.unlink()
    notes.write_text(text)
    import tempfile
    monkeypatch.setattr(tempfile, "mkstemp", lambda **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    (root / "slogan.py").write_text((root / "slogan.py").read_text().replace("0.5 * (cost(", "0.25 * (cost("))
    one_line(["--root", str(root)], "cannot write there")


@pytest.mark.parametrize("page", [p for p in PAGES if p != "index.html"])
def test_a_folded_docstring_shows_whole_sentences_above_its_fold(page):
    """A folded docstring's summary runs to the end of a sentence (a '.' or ':' at the end of its last line), never
    stopping halfway through one."""
    text = open(os.path.join(ROOT, "docs", "annotated", page), encoding="utf-8").read()
    for summary in re.findall(r"<summary[^>]*>(.*?)</summary>", text, re.S):
        shown = html.unescape(re.sub(r"<[^>]+>", "", summary)).rstrip()
        assert shown.endswith((".", ":")), (page, shown[-80:])
