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
    for block in re.findall(r'<pre class="code"><span class="where">(\w+)\.py, line (\d+)</span>(.*?)</pre>', text, re.S):
        name, line, code = block
        code = html.unescape(re.sub(r"<[^>]+>", "", code))
        lines = open(os.path.join(ROOT, f"{name}.py"), encoding="utf-8").read().splitlines()
        start = int(line) - 1
        assert code.splitlines() == lines[start:start + len(code.splitlines())], (page, line)
    for math in re.findall(r"<math.*?</math>", text, re.S):
        assert "\\" not in math, math[:200]  # a LaTeX command latex2mathml did not know
    if page != "index.html":
        for needed in ("arxiv.org/abs/" if "slogan" not in page else "lernapparat.de", "Notation", "Try it",
                       "Questions for discussion", 'class="pair"'):
            assert needed in text, (page, needed)
        for src in re.findall(r'<img src="([^"]+)"', text):  # the pictures exist
            assert os.path.isfile(os.path.join(ROOT, "docs", "annotated", src)), src


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs it with apt-get where it can)")
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("width", [1366, 800])
def test_a_real_browser_renders_the_page(page, width, tmp_path):
    from PIL import Image
    shot = tmp_path / "page.png"
    browser = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                              "--disable-quic", "--no-first-run", "--disable-background-networking",
                              "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                              "--hide-scrollbars", f"--window-size={width},2400", f"--screenshot={shot}",
                              "file://" + os.path.join(ROOT, "docs", "annotated", page)],
                             capture_output=True, text=True, timeout=120)
    if not shot.exists():  # the browser itself cannot run here (no display libraries, no shared memory, ...)
        pytest.skip(f"chromium took no screenshot here: {browser.stderr.strip().splitlines()[-1:]}")
    image = Image.open(shot).convert("L")
    assert image.size == (width, 2400)
    dark = sum(image.histogram()[:128])  # text, code, formulas: dark pixels on the light page
    assert dark > 0.01 * width * 2400, f"{page} at {width} px looks blank ({dark} dark pixels)"


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


def test_annotate_never_writes_through_a_planted_temporary_file(tmp_path):
    root = project_copy(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    page = root / "docs" / "annotated" / "slogan.html"
    os.symlink(victim, str(page) + ".tmp")
    (root / "slogan.py").write_text((root / "slogan.py").read_text().replace("0.5 * (cost(", "0.25 * (cost("))
    assert annotate.main(["--root", str(root)]) == 0
    assert victim.read_text() == "keep me" and "0.25 * (cost(" in page.read_text()
