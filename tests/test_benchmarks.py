"""The benchmark scripts' smoke modes and the plotting tool."""
import json
import os
import subprocess
import sys

import pytest

import common
import gpu_check
import gpu_text_start
import plot
from helpers import ROOT, cli

pytestmark = pytest.mark.slow  # not in the fast lane: python -m pytest -m "not slow"


def test_plot_command(tmp_path):
    for name, offset in (("wgangp__a", 0.0), ("fogan__b", 0.1)):
        run = tmp_path / name
        run.mkdir()
        (run / "metrics.csv").write_text("iteration,seconds,js4,js4_bayes\n" + "".join(
            f"{i},{i * 0.5},{1 / (i + 1) + offset},0.2\n" for i in range(0, 100, 10)))
    out = tmp_path / "plot.png"
    result = subprocess.run([sys.executable, "benchmarks/plot.py", "js4", str(out), *map(str, tmp_path.glob("*__*"))],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 10_000
    bad = subprocess.run([sys.executable, "benchmarks/plot.py", "js4", str(out), str(tmp_path / "nope")], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def fake_run(root, name, script, dataset, seed, values):
    run = root / name
    run.mkdir()
    (run / "args.json").write_text(json.dumps({"dataset": dataset, "seed": seed, "run": {"script": script}}))
    (run / "metrics.csv").write_text("iteration,seconds,w1\n" + "".join(
        f"{200 * (i + 1)},{10.0 * (i + 1)},{v}\n" for i, v in enumerate(values)))
    return str(run)


def capture_figure(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    return figures


def test_plot_groups_by_script_and_dataset_with_mean_band_and_markers(tmp_path, monkeypatch):
    figures = capture_figure(monkeypatch)
    runs = [(None, fake_run(tmp_path, "a", "wgangp", "swissroll", 1, [0.9, 0.5, 0.3])),
            (None, fake_run(tmp_path, "b", "wgangp", "swissroll", 2, [0.7, 0.3, 0.1])),
            (None, fake_run(tmp_path, "c", "wgangp", "25gaussians", 1, [0.4])),        # one evaluation
            (None, fake_run(tmp_path, "d", "slogan", "swissroll", 1, [0.8, 0.2, 0.2]))]
    plot.plot_runs(runs, "w1", str(tmp_path / "out.png"))
    assert (tmp_path / "out.png").stat().st_size > 10_000
    axes = figures[0].axes
    labels = [line.get_label() for line in axes[0].lines]
    assert "wgangp swissroll (2 runs, seeds 1, 2): mean, min-max band" in labels
    assert "wgangp 25gaussians (1 run, seed 1)" in labels and "slogan swissroll (1 run, seed 1)" in labels
    mean = [line for line in axes[0].lines if line.get_label().startswith("wgangp swissroll")][0]
    assert list(mean.get_ydata()) == pytest.approx([0.8, 0.4, 0.2]) and mean.get_marker() == "o"
    single = [line for line in axes[0].lines if line.get_label().startswith("wgangp 25gaussians")][0]
    assert list(single.get_xdata()) == [200.0] and single.get_marker() == "o"  # a single point is drawn
    assert len(axes[0].collections) == 1  # one band: only the group with several runs
    assert figures[0]._suptitle.get_text() == "w1: slogan swissroll vs wgangp 25gaussians vs wgangp swissroll"


def test_plot_label_override_title_and_errors(tmp_path, monkeypatch, capsys):
    a = fake_run(tmp_path, "a", "wgangp", "swissroll", 1, [0.9, 0.5])
    b = fake_run(tmp_path, "b", "wgangp", "swissroll", 1, [0.7, 0.3])
    out = tmp_path / "plot.png"
    result = subprocess.run([sys.executable, "benchmarks/plot.py", "w1", str(out), f"first={a}", f"second={b}",
                             "--title", "two settings"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 10_000
    figures = capture_figure(monkeypatch)
    plot.plot_main(["w1", str(out), f"first={a}", f"second={b}", "--title", "two settings"])
    assert {line.get_label().split(" (")[0] for line in figures[0].axes[0].lines} == {"first", "second"}
    assert figures[0]._suptitle.get_text() == "two settings"
    for argv, message in ((["js4", str(out), a], "no run has the metric 'js4'; these runs have: w1"),
                          (["w1", str(out), str(tmp_path / "nope")], "has no metrics.csv"),
                          (["w1", a, b], "the second argument is the figure to write")):  # OUT.png forgotten
        assert cli(plot.plot_main, argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err and err.count("\n") == 1, err
    assert sorted(os.listdir(a)) == ["args.json", "metrics.csv"]  # nothing written into a run


def test_gpu_check_smoke_prints_every_row(capsys):
    gpu_check.main(["--smoke"])
    out = capsys.readouterr().out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    labels = {(r[0].strip(), r[1].strip()) for r in rows}
    for kind, methods in gpu_check.step_time.METHODS.items():
        assert (kind, "floor (critic fwd+bwd)") in labels
        for label, module, extra in methods:
            n_critic = gpu_check.step_time.n_critic_of(module, kind, extra)
            assert (kind, f"{label} ({n_critic} critic)") in labels


def test_gpu_text_start_smoke_and_its_2048_symbol_corpus(capsys, tmp_path):
    gpu_text_start.main(["--smoke"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "---" not in line and "corpus" not in line]
    assert {(r[0].strip(), r[1].strip(), r[2].strip()) for r in rows} == {
        (c, m, i) for c in ("embedded (~100 chars)", "embedded over 2,048 symbols") for m in ("fogan_text", "wgangp")
        for i in ("2", "4")}
    assert all(0 <= float(r[k]) <= 1 for r in rows for k in (4, 5, 6))  # js4, top_char_share, distinct_lines
    lines = common.embedded_corpus_lines()
    remapped = gpu_text_start.remap_to_alphabet(lines)
    assert [len(a) for a in remapped] == [len(b[:common.SEQ_LEN]) for b in lines]
    corpus = common.load_text(gpu_text_start.write_corpus(str(tmp_path / "c"), remapped))
    assert corpus["vocab_size"] == 2048  # the paper's one-hot width


def test_advas_variants_agree_with_the_definition(capsys):
    """benchmarks/advas_variants.py on tiny nets: every way of computing g_AdvAs matches the definition."""
    import advas_variants
    advas_variants.main(["--toy-width", "16", "--text-width", "8", "--n", "1", "--repeats", "1", "--iterations", "0"])
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "---" not in line and "variant" not in line]
    assert {(r[0].strip(), r[2].strip()) for r in rows} == {(k, v) for k in ("toy", "text")
                                                           for v in advas_variants.VARIANTS}
    for row in rows:  # "directions" (X and X' only, no gradient) has nothing to compare
        if row[2].strip() in advas_variants.GRADIENTS:
            assert all(float(e) < 1e-8 for e in row[3].split("/")), row


def test_plot_keeps_runs_of_different_settings_apart_and_skips_groups_without_the_metric(tmp_path, monkeypatch):
    runs = []
    for name, advas, iters in (("a1", True, 400), ("a2", True, 400), ("n1", False, 400), ("n2", False, 800)):
        run = fake_run(tmp_path, name, "advas", "swissroll", int(name[1]), [0.9, 0.5, 0.4, 0.3][:iters // 200])
        settings = json.load(open(os.path.join(run, "args.json")))
        json.dump({**settings, "advas": advas, "iters": iters}, open(os.path.join(run, "args.json"), "w"))
        runs.append((None, run))
    other = tmp_path / "text"
    other.mkdir()
    (other / "metrics.csv").write_text("iteration,seconds,js4\n2,1.0,0.9\n")
    figures = capture_figure(monkeypatch)
    plot.plot_runs(runs + [(None, str(other))], "w1", str(tmp_path / "out.png"))
    labels = {line.get_label() for line in figures[0].axes[0].lines if not line.get_label().startswith("_")}
    assert any(label.startswith("advas swissroll advas=True iters=400 (2 runs") for label in labels), labels
    assert any(label.startswith("advas swissroll advas=False iters=400 (1 run") for label in labels), labels
    assert any(label.startswith("advas swissroll advas=False iters=800 (1 run") for label in labels), labels
    assert not any("text" in label for label in labels)  # no legend entry for a group without w1


def test_every_claims_ledger_run_works_at_a_tiny_size_and_writes_nothing_into_docs(tmp_path):
    """benchmarks/claims.py --smoke: every part's runs (each arm's script and flags) at 2 iterations, each part's
    table, verdicts and figure from them, so that no ledger row silently stops running; docs/ stays untouched."""
    docs = os.path.join(ROOT, "docs")
    ledger = lambda: {p: os.path.getmtime(os.path.join(docs, p)) for p in os.listdir(docs) if p.startswith("claims")}
    before = ledger()
    result = subprocess.run([sys.executable, "benchmarks/claims.py", "all", "--smoke", "--seeds", "1", "--out",
                             str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-2000:]
    import claims
    figures = {p.name for p in (tmp_path / "runs" / "docs").iterdir() if p.suffix == ".png"}
    assert {f"claims_{part}.png" for part in claims.PARTS} == figures
    for part in claims.PARTS:  # one table per part, every arm a row, and its verdicts
        assert f"## {part}" in result.stdout
        for arm in claims.PARTS[part].arms:
            assert f"| {arm} |" in result.stdout or f"| {arm} (" in result.stdout, (part, arm)
        assert (tmp_path / "runs" / "docs" / "claims" / f"{part}.csv").exists()
    assert "**undecided at this size** | p -" in result.stdout  # one seed decides nothing
    assert before == ledger()


def test_plot_averages_only_what_every_finished_run_has_and_says_what_it_left_out(tmp_path, monkeypatch, capsys):
    a = fake_run(tmp_path, "a", "wgangp", "swissroll", 1, [0.9, 0.5, 0.3])
    b = fake_run(tmp_path, "b", "wgangp", "swissroll", 2, [0.7, 0.3, 0.1])
    lines = open(os.path.join(b, "metrics.csv")).read().splitlines()
    lines.insert(3, "500,25.0,0.05")  # an extra evaluation (a stop at 500, then a resume) that run a lacks
    open(os.path.join(b, "metrics.csv"), "w").write("\n".join(lines) + "\n")
    for run in (a, b):
        settings = json.load(open(os.path.join(run, "args.json")))
        json.dump({**settings, "iters": 600}, open(os.path.join(run, "args.json"), "w"))
    c = fake_run(tmp_path, "c", "wgangp", "swissroll", 3, [0.1])  # unfinished (iters 600 below)
    json.dump({**json.load(open(os.path.join(c, "args.json"))), "iters": 600}, open(os.path.join(c, "args.json"), "w"))
    d = tmp_path / "d"
    d.mkdir()
    (d / "metrics.csv").write_text("iteration,seconds,js4\n2,1.0,0.9\n")
    figures = capture_figure(monkeypatch)
    plot.plot_runs([(None, a), (None, b), (None, b), (None, c), (None, str(d))], "w1", str(tmp_path / "out.png"))
    mean = [line for line in figures[0].axes[0].lines if line.get_label().endswith("mean, min-max band")][0]
    assert list(mean.get_xdata()) == [200, 400, 600] and list(mean.get_ydata()) == pytest.approx([0.8, 0.4, 0.2])
    assert "(3 runs" in mean.get_label()  # b once, not twice
    err = capsys.readouterr().err
    for said in ("given twice", "no w1 in", "unfinished run(s)", "leaves out iterations not every run has: 500"):
        assert said in err, err


def test_plot_help_and_never_into_a_run(tmp_path, capsys):
    a = fake_run(tmp_path, "a", "wgangp", "swissroll", 1, [0.9, 0.5])
    help_ = subprocess.run([sys.executable, "benchmarks/plot.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert help_.returncode == 0 and "METRIC" in help_.stdout.upper()
    picture = os.path.join(a, "toy_0000400.png")
    open(picture, "wb").write(b"the run's own picture")
    assert cli(plot.plot_main, ["w1", picture, a]) == 2
    assert "inside a run folder" in capsys.readouterr().err
    assert open(picture, "rb").read() == b"the run's own picture"
    old = subprocess.run([sys.executable, "common.py", "plot", "w1"], cwd=ROOT, capture_output=True, text=True)
    assert old.returncode == 2 and "benchmarks/plot.py" in old.stderr


def test_plot_labels_a_clipped_wgan_run_as_such_and_keeps_the_legend_off_the_panels(tmp_path, monkeypatch):
    runs = [(None, fake_run(tmp_path, "a", "wgangp", "swissroll", 1, [0.9, 0.5, 0.3]))]
    settings = json.load(open(os.path.join(runs[0][1], "args.json")))
    json.dump({**settings, "mode": "wgan"}, open(os.path.join(runs[0][1], "args.json"), "w"))
    figures = capture_figure(monkeypatch)
    plot.plot_runs(runs, "w1", str(tmp_path / "out.png"))
    (legend,) = figures[0].legends
    assert any("mode=wgan" in text.get_text() for text in legend.get_texts())
    assert figures[0].axes[0].get_legend() is None  # not inside the left panel
