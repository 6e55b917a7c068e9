"""The reading-group edition: one HTML page per method, the paper's equations beside the code that computes them.

    python docs/annotate.py           # writes docs/annotated/*.html and style.css from the method files
    python docs/annotate.py --check   # exits 1 when a page differs from what the current sources give

The code on each page is taken from the method file when the page is generated, never typed into the page. The
prose lives in docs/annotated/notes/<method>.txt, one section per function of the file (`== critic_loss`), or per
part of `main` (`== main | # ---- critic`: from the line holding that text to the next `# ----` line): the files
stay as short as they are, the LaTeX stays out of the docstrings, and a section whose function was renamed or
removed stops the generation with the name it could not find. Inside a section, a line `@ <text>` starts a line
note: it sits beside the code from the first line holding <text> to the next note's line, so each equation stands
beside the line that computes it. Docstrings of more than one line are folded under their first line (<details>). Mathematics is LaTeX between $...$ (inline) or
$$...$$ (display), turned into MathML here (latex2mathml), so the pages need no JavaScript and no network.
"""
import argparse
import ast
import contextlib
import html
import os
import re
import sys
import textwrap

from latex2mathml.converter import convert as latex_to_mathml

HERE = os.path.dirname(os.path.abspath(__file__))
PAGES = ("wgangp", "dragan", "slogan", "fogan_text", "fogan_celeba", "advas")
KEYWORDS = ("def", "return", "if", "elif", "else", "for", "in", "while", "with", "as", "import", "from", "not", "and",
            "or", "is", "None", "True", "False", "lambda", "yield", "class", "try", "except", "finally", "raise")


class AnnotateError(Exception):
    """A problem with the sources: one `error:` line, exit status 2."""


def fail(message):
    raise AnnotateError(message)


def read_text(path):
    """A UTF-8 text file that must be there: a missing, non-regular (a pipe would block) or non-UTF-8 file is one line."""
    if not os.path.isfile(path):
        fail(f"{path}: {'not a regular file' if os.path.exists(path) else 'no such file'}")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        fail(f"{path}: not UTF-8 text (byte {e.start})")


ARITY = {"mfrac": 2, "msub": 2, "msup": 2, "msubsup": 3, "mroot": 2, "munder": 2, "mover": 2, "munderover": 3}


def math(latex, display=None):
    """LaTeX -> MathML, refused when the LaTeX does not convert or converts to MathML a browser cannot lay out (a
    fraction, index or root missing a part)."""
    import xml.etree.ElementTree as ET
    try:
        out = latex_to_mathml(latex, display=display) if display else latex_to_mathml(latex)
        tree = ET.fromstring(out)
    except Exception as e:
        fail(f"the LaTeX ${latex}$ does not convert ({type(e).__name__})")
    for element in tree.iter():
        tag = element.tag.split("}")[-1]
        if tag in ARITY and len(element) != ARITY[tag]:
            fail(f"the LaTeX ${latex}$ gives a <{tag}> with {len(element)} part(s) instead of {ARITY[tag]}")
    out = out.replace("<mi>&#x0007E;</mi>", "<mo>&#x0223C;</mo>")  # \sim: the relation, not an ASCII tilde
    for bar in ("&#x02016;", "&#x0007C;"):  # \lVert, |: the size of the text, as LaTeX sets them (\left stretches)
        out = out.replace(f"<mo>{bar}</mo>", f'<mo stretchy="false">{bar}</mo>')
    return out


# ---- the notes: a header of `key: value` lines, then `== section` blocks ---------------------------------------


def read_notes(root, name):
    """{"header": {key: value}, "sections": [(key, text)]} of docs/annotated/notes/<name>.txt; `same-as: other`
    takes the other page's sections where this one has none of its own."""
    text = read_text(os.path.join(root, "docs", "annotated", "notes", f"{name}.txt"))
    head, *blocks = re.split(r"^== ", text, flags=re.M)
    header = dict(line.split(": ", 1) for line in head.strip().splitlines() if line.strip())
    sections = [(block.split("\n", 1)[0].strip(), block.split("\n", 1)[1].strip("\n").rstrip() if "\n" in block else "")
                for block in blocks]
    keys = [key for key, _ in sections]
    if len(set(keys)) < len(keys):
        fail(f"docs/annotated/notes/{name}.txt has the section '== {next(k for k in keys if keys.count(k) > 1)}' twice")
    if "same-as" in header:
        own = {key for key, _ in sections}
        sections = [s for s in read_notes(root, header["same-as"])["sections"] if s[0] not in own] + sections
        order = [key for key, _ in read_notes(root, header["same-as"])["sections"]]
        sections.sort(key=lambda s: order.index(s[0]) if s[0] in order else len(order))
    return {"header": header, "sections": sections}


def indent(line):
    return len(line) - len(line.lstrip())


LOOP = re.compile(r"^\s*(for|while)\b.*:\s*(#.*)?$")


def code_of(source, key, script):
    """(first line number, lines, loop) that section `key` shows: a whole top-level function (with its decorators),
    an assignment by name, or `main | marker`: the part of main from the marker line to the next `# ----` line.
    A loop header belongs to the part that opens its body: the part before it ends above it, the first part inside
    it starts with it, and a later part inside it returns it as `loop` = (line number, header, last line number
    before the part) so the page can show the loop around it."""
    name, _, marker = (part.strip() for part in key.partition("|"))
    lines = source.splitlines()
    for node in ast.parse(source).body:
        names = [node.name] if hasattr(node, "name") else [t.id for t in getattr(node, "targets", [])
                                                           if isinstance(t, ast.Name)]
        if name in names:
            start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
            body = lines[start - 1:node.end_lineno]
            if not marker:
                return start, body, None
            at = next((i for i, line in enumerate(body) if marker in line), None)
            if at is None:
                fail(f"{script}.py: no line with {marker!r} in {name}")
            end = next((i for i in range(at + 1, len(body)) if body[i].strip().startswith("# ----")), len(body))
            while end > at + 1 and (not body[end - 1].strip() or (
                    end < len(body) and LOOP.match(body[end - 1]) and indent(body[end - 1]) < indent(body[end]))):
                end -= 1  # blank lines, and the header of a loop the next part runs inside
            above = next((i for i in range(at - 1, -1, -1) if body[i].strip() and indent(body[i]) < indent(body[at])),
                         None)
            loop = None
            if above is not None and LOOP.match(body[above]):
                if all(not line.strip() for line in body[above + 1:at]):
                    at = above  # the first part of the loop's body: the part starts with its header
                else:
                    last = max(i for i in range(above + 1, at) if body[i].strip())
                    loop = (start + above, body[above], start + last)
            return start + at, body[at:end], loop
    fail(f"{script}.py has no {name!r} (renamed? update docs/annotated/notes/{script}.txt)")


# ---- text to HTML: paragraphs, lists, `code`, *emphasis*, [links](url), $math$, $$display math$$ ----------------


def inline(text):
    parts = re.split(r"(\$[^$]+\$|`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("$") and part.endswith("$") and len(part) > 1:
            out.append(math(part[1:-1]))
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            part = html.escape(part, quote=False)
            part = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', part)
            part = re.sub(r"\*\*([^*\s][^*]*)\*\*", r"<strong>\1</strong>", part)
            out.append(re.sub(r"\*([^*\s][^*]*)\*", r"<em>\1</em>", part))
    return "".join(out)


def prose(text):
    out = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        block = block.rstrip() if block.lstrip("\n").startswith("    ") else block.strip()
        block = block.strip("\n")
        if block.startswith("![") and block.endswith(")"):
            caption, src = re.match(r"!\[(.*)\]\((.*)\)$", " ".join(block.split()), re.S).groups()
            out.append(f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}">'
                       f"<figcaption>{inline(caption)}</figcaption></figure>")
        elif all(line.startswith("    ") for line in block.split("\n")):
            out.append(f'<pre class="commands">{html.escape(textwrap.dedent(block))}</pre>')
        elif block.startswith("$$") and block.endswith("$$"):
            out.append(f'<div class="display">{math(block[2:-2].strip(), display="block")}</div>')
        elif all(line.strip().startswith("|") for line in block.split("\n")):
            rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block.split("\n")
                    if not re.fullmatch(r"\|?[\s|:-]+\|?", line.strip())]
            cells = lambda row, tag: "".join(f"<{tag}>{inline(cell)}</{tag}>" for cell in row)
            out.append("<table><tr>" + cells(rows[0], "th") + "</tr>" +
                       "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows[1:]) + "</table>")
        elif re.match(r"#{3,4} ", block) and "\n" not in block:
            level = len(block.split(" ", 1)[0])
            out.append(f"<h{level}>{inline(block.split(' ', 1)[1])}</h{level}>")
        elif block.startswith("- "):
            items = re.split(r"^- ", block, flags=re.M)[1:]
            out.append("<ul>" + "".join(f"<li>{inline(' '.join(i.split()))}</li>" for i in items) + "</ul>")
        elif block:
            out.append(f"<p>{inline(' '.join(block.split()))}</p>")
    return "\n".join(out)


def highlight(lines):
    """Python lines as HTML: comments, strings (docstrings across lines) and keywords marked; no dependency, so
    the pages come out the same on every machine."""
    token = re.compile(r'(#.*$)|("[^"\n]*"|\'[^\'\n]*\')|\b(' + "|".join(KEYWORDS) + r')\b')

    def mark(match):
        comment, string, keyword = match.groups()
        if comment:
            return f'<span class="c">{comment}</span>'
        return f'<span class="s">{string}</span>' if string else f'<span class="k">{keyword}</span>'
    out, in_docstring = [], False
    for line in lines:
        text = html.escape(line, quote=False)
        quotes = line.count('"""')
        if in_docstring or quotes:
            start = text.index('"""') if not in_docstring else len(text) - len(text.lstrip())
            out.append(text[:start] + f'<span class="s">{text[start:]}</span>')
            in_docstring = in_docstring != (quotes % 2 == 1)
        else:
            out.append(token.sub(mark, text))
    return "\n".join(f'<span class="l">{line}</span>' for line in out)  # one span a line: a hanging indent when narrow


# ---- a section's code: rows of lines, each beside its own note; docstrings folded --------------------------------


def split_glosses(text):
    """A section's prose, and its line notes: each `@ <text>` line starts a note for the code from the first line
    holding <text> (after the previous note's) to the next note's line."""
    general, *glosses = re.split(r"^@ ", text, flags=re.M)
    return general, [(g.split("\n", 1)[0].strip(), g.split("\n", 1)[1] if "\n" in g else "") for g in glosses]


def gloss_rows(lines, glosses, where):
    """[(note text, first line index, line count)]: the section's opening lines (with the general prose) and one row
    per line note."""
    anchors, after = [], 0
    for anchor, _ in glosses:
        at = next((i for i in range(after, len(lines)) if anchor in lines[i]), None)
        if at is None:
            fail(f"{where}: no line with {anchor!r}" + (" after the previous note's" if anchors else ""))
        anchors.append(at)
        after = at + 1
    bounds = [0] + anchors + [len(lines)]
    notes = [""] + [gloss for _, gloss in glosses]
    return [(notes[i], bounds[i], bounds[i + 1] - bounds[i]) for i in range(len(notes))]


def code_blocks(lines, first_line):
    """The lines as <pre class="lines" data-line=N> blocks (N: the file's line number of the block's first line), a
    docstring of more than one line folded into <details> under its first line."""
    def opens_docstring(line):  # the first line of a docstring that goes on below it
        return line.lstrip().startswith(('"""', 'r"""')) and line.count('"""') == 1
    out, i = [], 0
    while i < len(lines):
        if opens_docstring(lines[i]) and (closes := next(
                (j for j in range(i + 1, len(lines)) if lines[j].count('"""') % 2 == 1), None)) is not None:
            # the summary: the lines up to the first one that ends a sentence (never a sentence cut in two)
            ends = next((k for k in range(i, closes) if lines[k].rstrip().endswith((".", ":"))), closes)
            if ends < closes:
                rest = lines[ends + 1:closes + 1]
                summary = docstring_lines(lines[i:ends + 1])
                out.append(f'<details class="doc"><summary title="the whole docstring ({closes - i + 1} lines)">'
                           f'<code class="lines" data-line="{first_line + i}">{summary}</code></summary>'
                           f'<pre class="lines" data-line="{first_line + ends + 1}">{docstring_lines(rest)}</pre>'
                           '</details>')
                i = closes + 1
                continue
        end = next((j for j in range(i + 1, len(lines)) if opens_docstring(lines[j])), len(lines))
        out.append(f'<pre class="lines" data-line="{first_line + i}">{highlight(lines[i:end])}</pre>')
        i = end
    return "".join(out)


def docstring_lines(lines):
    return "\n".join(f'<span class="l"><span class="s">{html.escape(line, quote=False)}</span></span>' for line in lines)


# ---- pages -------------------------------------------------------------------------------------------------------


def page(root, name):
    notes = read_notes(root, name)
    head = notes["header"]
    source = read_text(os.path.join(root, f"{name}.py"))
    nav = " · ".join(f'<a href="{p}.html">{p}</a>' if p != name else f"<b>{p}</b>" for p in PAGES)
    parts = [f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(head['title'])} — annotated</title><link rel="stylesheet" href="style.css"></head>
<body><nav><a href="index.html">all methods</a> · {nav}</nav>
<header><h1>{html.escape(head['title'])}</h1>
<p class="paper">{inline(head['paper'])}</p>
<p class="paper">Original code: {inline(head['code'])}. Our file: <a href="../../{name}.py"><code>{name}.py</code></a>
(every line of code below is taken from it when this page is generated).</p></header>"""]
    widest = 0  # the longest code line on the page: the code column is that wide, so no line wraps
    for key, text in notes["sections"]:
        if key == "questions" and "claims" in head:
            parts.append(f'<section class="wide claims"><h2>What the paper claims, and what we saw</h2>\n'
                         f'{prose(claims_of(root, head["claims"]))}</section>')
        if key in ("why", "notation", "try it", "questions"):
            title = {"why": "Why this method", "notation": "Notation", "try it": "Try it",
                     "questions": "Questions for discussion"}[key]
            body = notation(text) if key == "notation" else prose(text)
            parts.append(f'<section class="wide"><h2>{title}</h2>\n{body}</section>')
            continue
        start, lines, loop = code_of(source, key, name)
        label = key.replace("|", "·").replace("# ---- ", "")
        general, glosses = split_glosses(text)
        rows = gloss_rows(lines, glosses, f"{name}.py, section '{key}'")
        widest = max([widest] + [len(line) for line in lines + ([loop[1]] if loop else [])])
        section_id = html.escape(re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-"))
        # with line notes the section's prose spans both columns above the code, each note then beside its lines
        intro = f'<h3><code>{html.escape(label)}</code></h3>\n{prose(general)}'
        cells = [f'<div class="note intro">{intro}</div><div class="note first"></div>' if glosses else
                 f'<div class="note first">{intro}</div>']
        for i, (gloss, first, count) in enumerate(rows):
            where = f'<div class="where">{name}.py, line {start}</div>' if i == 0 else ""
            if i == 0 and loop:
                line, header, last = loop
                where += (f'<pre class="lines context" data-line="{line}">{highlight([header])}</pre>'
                          f'<div class="gap">⋮ lines {line + 1}–{last}, above</div>')
            kind = ("first " if i == 0 else "glossed ") + ("last" if i == len(rows) - 1 else "")
            if i:
                cells.append(f'<div class="note gloss">{prose(gloss)}</div>')
            cells.append(f'<div class="code {kind.strip()}">{where}{code_blocks(lines[first:first + count], start + first)}</div>')
        parts.append(f'<section class="pair" id="{section_id}" data-file="{name}.py">\n' + "\n".join(cells)
                     + "</section>")
    parts.append('<footer>Generated by <code>python docs/annotate.py</code> from the method file and '
                 f'<code>docs/annotated/notes/{name}.txt</code>.</footer></body></html>\n')
    parts[0] = parts[0].replace("<body>", f'<body style="--code-cols: {widest}">', 1)
    return "\n".join(parts)


def claims_of(root, heading):
    """The rows of docs/claims.md under `## <heading>`, with its pictures' and links' paths made relative to the
    pages' folder."""
    sections = re.split(r"^## ", read_text(os.path.join(root, "docs", "claims.md")), flags=re.M)
    body = next((s.split("\n", 1)[1] for s in sections if s.split("\n", 1)[0].strip() == heading), None)
    if body is None:
        fail(f"docs/claims.md has no section '## {heading}'")
    body = re.sub(r"^<!-- /?ledger:[\w-]+ -->$", "", body, flags=re.M)  # the generated blocks' markers
    body = re.sub(r"\]\((?!https?:|#|/)([^)]+)\)", r"](../\1)", body)
    return body + "\n\nThe whole ledger, every method: [docs/claims.md](../claims.md)."


def notation(text):
    rows = [line.split(" | ") for line in text.strip().splitlines() if line.strip()]
    return ("<table><tr><th>symbol</th><th>in the code</th><th>meaning</th></tr>" + "".join(
        f"<tr><td>{inline(symbol)}</td><td><code>{html.escape(code)}</code></td><td>{inline(meaning)}</td></tr>"
        for symbol, code, meaning in rows) + "</table>")


def index(root):
    items = []
    for name in PAGES:
        head = read_notes(root, name)["header"]
        items.append(f'<li><a href="{name}.html"><b>{html.escape(head["title"])}</b></a> — {inline(head["summary"])}'
                     f'<br><span class="paper">{inline(head["paper"])}</span></li>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gradient-penalty GANs — the annotated edition</title><link rel="stylesheet" href="style.css"></head>
<body><header><h1>Gradient-penalty GANs, annotated</h1>
<p>Each page puts a paper's equations beside the lines of our single-file implementation that compute them, with
the notation, a CPU command that shows the method's claim in minutes, and questions for a reading group. The pages
work offline: plain HTML, the mathematics in MathML, no JavaScript.</p></header>
<section class="wide"><ol class="methods">{"".join(items)}</ol>
<p>A suggested order: WGAN-GP (the penalty everything else changes), then DRAGAN and SLOGAN (where and what to
penalise), FOGAN (what the critic's gradient should be, not only its norm), AdvAs (the generator's side).</p>
</section>
<footer>Generated by <code>python docs/annotate.py</code>.</footer></body></html>
"""


STYLE = """body { font: 16px/1.55 Georgia, "Times New Roman", serif; margin: 0 auto; max-width: 1500px; padding: 0 1.5rem;
  color: #1d1d1d; background: #fdfdfb; }
nav { font: 14px sans-serif; padding: .6rem 0; border-bottom: 1px solid #ddd; }
h1 { margin: 1rem 0 .3rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; } h3 { margin: 0 0 .4rem; }
.paper { color: #444; margin: .2rem 0; }
a { color: #1a5fb4; }
section.wide { max-width: 60rem; }
section.claims { max-width: none; } section.claims table { width: 100%; table-layout: fixed; }
section.claims td { font-size: 14px; } section.claims code { white-space: normal; overflow-wrap: anywhere; }
section.claims figure { max-width: 60rem; }
section.pair { display: grid; grid-template-columns: minmax(18rem, 1fr) auto; column-gap: 1.5rem;
  border-top: 1px solid #e6e6e6; padding: 1rem 0; }
.note { min-width: 0; } .note.intro { grid-column: 1 / -1; max-width: 60rem; margin-bottom: .6rem; }
.note.gloss { font-size: 15px; padding: .35rem 0 .2rem; border-top: 1px dashed #d6d6cc; }
.note.gloss p { margin: 0 0 .4rem; } .note.gloss .display { margin: .2rem 0 .4rem; }
.note code, .wide code, header code { white-space: nowrap; font-size: .92em; }
math { font-size: 1.15em; font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", "DejaVu Math TeX Gyre", math; } .display { overflow-x: auto; margin: .6rem 0; }
.display math { font-size: 1.2em; }
section.pair > .code { font: 12px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f4f4f0;
  width: calc(var(--code-cols, 100) * 1ch); padding: 0 1rem; overflow-x: auto; min-width: 0; }
.code.first { padding-top: .7rem; border-radius: 4px 4px 0 0; } .code.last { padding-bottom: .8rem; }
.code.glossed { border-top: 1px dashed #d6d6cc; padding-top: .35rem; }
.lines { display: block; margin: 0; font: inherit; white-space: pre; }
.lines .c { color: #5f6f4f; font-style: italic; } .lines .s { color: #8a3b12; } .lines .k { color: #1c3f95; font-weight: bold; }
.lines.context { color: #777; } .lines.context .k, .lines.context .c { color: #888; }
.code .gap { color: #999; margin: 0 0 .2rem 6ch; }
.code .where { color: #888; margin-bottom: .3rem; }
details.doc summary { display: block; list-style: none; cursor: pointer; position: relative; }
details.doc summary::-webkit-details-marker { display: none; }
details.doc summary::before { content: "▸"; position: absolute; left: -.85rem; color: #8a3b12; }
details.doc[open] summary::before { content: "▾"; }
details.doc summary code { text-decoration: underline dotted #c9a58f; text-underline-offset: 3px; }
pre.commands { background: #f4f4f0; padding: .6rem 1rem; font: 13px/1.45 Menlo, Consolas, monospace; white-space: pre-wrap; }
table { border-collapse: collapse; margin: .5rem 0; font-size: 15px; } td, th { border: 1px solid #ddd; padding: .3rem .6rem; text-align: left;
  vertical-align: top; } th { background: #f0f0ec; }
img { max-width: 100%; border: 1px solid #ddd; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: 14px; }
ol.methods li { margin: .8rem 0; }
footer { color: #777; font-size: 13px; border-top: 1px solid #ddd; margin: 2rem 0; padding-top: .5rem; }
section.pair > .code { align-self: start; }  /* a note taller than its lines leaves no blank inside the code */
@media (max-width: 1200px) { section.pair { grid-template-columns: minmax(0, 1fr); }
  section.pair > .code { width: auto; overflow-x: visible; }
  .lines { white-space: pre-wrap; overflow-wrap: anywhere; }  /* a long line wraps under itself, nothing is hidden */
  .lines .l { display: inline-block; width: 100%; box-sizing: border-box; padding-left: 6ch; text-indent: -6ch; } }
"""


def render(root):
    """{file name: content} of every page, the index and the style sheet."""
    pages = {f"{name}.html": page(root, name) for name in PAGES}
    return {**pages, "index.html": index(root), "style.css": STYLE}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a page differs from the current sources")
    parser.add_argument("--root", default=os.path.dirname(HERE), help="the project folder (default: this one)")
    args = parser.parse_args(argv)
    out = os.path.join(args.root, "docs", "annotated")
    try:
        missing = [f"{name}.py" for name in PAGES if not os.path.isfile(os.path.join(args.root, f"{name}.py"))]
        if missing:
            fail(f"--root {args.root}: not this project's folder (no {', '.join(missing[:2])})")
        stale = []
        for file, content in render(args.root).items():
            path = os.path.join(out, file)
            old = read_text(path) if os.path.lexists(path) else None
            if old != content:
                stale.append(file)
                if not args.check:
                    write_page(path, content)
    except AnnotateError as e:
        print(f"error: annotate: {e}", file=sys.stderr)
        return 2
    if args.check and stale:
        print(f"annotate: out of date: {', '.join(stale)}; run python docs/annotate.py", file=sys.stderr)
        return 1
    print(f"annotate: {len(stale)} file(s) {'differ' if args.check else 'written'}, the rest up to date")
    return 0


def write_page(path, content):
    """Write a page whole, through a new temporary file of its own in the same folder (never one already there,
    which could be a link planted to overwrite another file), then renamed over the page."""
    import tempfile
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=os.path.basename(path) + ".", suffix=".tmp")
    except OSError as e:
        fail(f"{os.path.dirname(path)}: cannot write there ({e.strerror})")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        fail(f"{path}: cannot be written ({e.strerror})")


if __name__ == "__main__":
    sys.exit(main())
