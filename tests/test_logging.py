"""What a run leaves for its user: the TensorBoard event file (same tags in every script), args.json with the
resolved settings (and resumes appended), metrics.csv with the loss terms, the plot command, the no-flag
miniature settings on embedded data, and --threads."""
import csv
import json
import os
import subprocess
import sys

import pytest
import torch

import advas
import common
import dragan
import fogan_celeba
import fogan_text
import slogan
import wgangp
from helpers import write_billion_word

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--iters", "4", "--eval-every", "2", "--batch-size", "8", "--log-every", "1"]
COMMON_TAGS = {"train/critic_loss", "train/generator_loss", "train/w_distance", "train/critic_grad_norm",
               "train/generator_grad_norm", "train/iterations_per_second"}
RUNS = [  # script, its flags, its own loss terms, an evaluation metric, the samples' kind in TensorBoard
    (wgangp, ["--dataset", "swissroll", "--width", "8", "--eval-samples", "32"], {"penalty"}, "w1", "images"),
    (dragan, ["--dataset", "swissroll", "--width", "8", "--eval-samples", "32"], {"penalty", "adversarial"}, "w1",
     "images"),
    (slogan, ["--dataset", "swissroll", "--width", "8", "--eval-samples", "32"], {"penalty"}, "w1", "images"),
    (advas, ["--dataset", "swissroll", "--width", "8", "--eval-samples", "32"], {"penalty", "r_tilde", "advas_lambda"},
     "w1", "images"),
    (fogan_text, ["--width", "8", "--eval-samples", "32"], {"lipschitz", "first_order"}, "js4", "tensors"),
    (fogan_celeba, ["--width", "8", "--fid-weights", "none"], {"lipschitz", "first_order"}, None, "images"),
]


def tensorboard_tags(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


@pytest.mark.parametrize("module,flags,terms,metric,samples", RUNS, ids=[r[0].__name__ for r in RUNS])
def test_tensorboard_event_file_holds_every_term(tmp_path, module, flags, terms, metric, samples):
    run_dir = module.main(flags + TINY + ["--runs-dir", str(tmp_path)])
    events = tensorboard_tags(run_dir)
    tags = set(events.Tags()["scalars"])
    expected = COMMON_TAGS | {f"train/{t}" for t in terms} | ({f"eval/{metric}"} if metric else set())
    assert expected <= tags, expected - tags
    assert [e.step for e in events.Scalars("train/critic_loss")] == [1, 2, 3, 4]  # every --log-every 1
    assert [e.step for e in events.Scalars("train/iterations_per_second")] == [2, 3, 4]
    assert any(tag.startswith("samples") for tag in events.Tags()[samples])
    assert "args" in str(events.Tags()["tensors"])  # the settings, as text
    # metrics.csv: the loss terms beside the metrics, every number to at most 6 significant digits
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["iteration"] for r in rows] == ["2", "4"]
    assert {"critic_loss", "generator_loss", "w_distance", "critic_grad_norm", *terms} <= set(rows[0])
    critic_loss = [e.value for e in events.Scalars("train/critic_loss") if e.step == 4][0]
    assert float(rows[-1]["critic_loss"]) == pytest.approx(critic_loss, rel=1e-5)
    for name, value in rows[-1].items():
        if name not in ("iteration", "seconds") and value not in ("", "nan"):
            digits = value.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
            assert len(digits) <= 6, (name, value)


def test_log_every_writes_only_every_n_iterations(tmp_path):
    run_dir = wgangp.main(["--width", "8", "--batch-size", "8", "--iters", "7", "--eval-every", "7",
                           "--eval-samples", "16", "--log-every", "3", "--runs-dir", str(tmp_path)])
    assert [e.step for e in tensorboard_tags(run_dir).Scalars("train/penalty")] == [3, 6, 7]  # and the last


def test_args_json_holds_resolved_settings_and_resumes_append(tmp_path):
    argv = ["--width", "8", "--batch-size", "8", "--iters", "2", "--eval-every", "2", "--eval-samples", "16",
            "--runs-dir", str(tmp_path)]
    run_dir = wgangp.main(argv)
    with open(os.path.join(run_dir, "args.json")) as f:
        saved = json.load(f)
    unset = {k for k, v in saved.items() if v is None}
    assert unset <= {"data_root", "fid_weights", "fid_stats", "resume", "image_size"}, unset  # none apply to a toy
    assert saved["width"] == 8 and saved["eval_samples"] == 16 and saved["threads"] == torch.get_num_threads()
    assert saved["run_name"] == os.path.basename(run_dir) and saved["cache_dir"]
    record = saved["run"]
    assert record["script"] == "wgangp" and record["device_used"] == "cpu" and record["torch"] == torch.__version__
    assert record["git_commit"] is None or len(record["git_commit"]) == 40
    wgangp.main(["--resume", run_dir, "--iters", "4"])
    with open(os.path.join(run_dir, "args.json")) as f:
        resumed = json.load(f)
    assert resumed["iters"] == 4 and len(resumed["resumes"]) == 1
    assert resumed["resumes"][0]["iteration"] == 2 and resumed["resumes"][0]["changed"] == {"iters": 4}
    assert resumed["run"] == record  # the first start's record stays


# ---- the no-flag runs: a miniature on embedded data, the paper's setting with --data-root ---------------------


def test_embedded_data_gets_the_miniature_and_data_root_the_paper(tmp_path, capsys):
    mini = common.parse_args(fogan_text.Args, [], fogan_text.DEFAULTS)
    assert (mini.width, mini.eval_samples) == (64, 640) and mini.iters < 10_000
    assert "python fogan_text.py --data-root" in capsys.readouterr().out  # the one line on the paper's setting
    write_billion_word(tmp_path / "bw", ["a line of words"] * 4)
    paper = common.parse_args(fogan_text.Args, ["--iters", "100000", "--data-root", str(tmp_path / "bw")],
                              fogan_text.DEFAULTS)
    assert (paper.width, paper.iters, paper.generator_batch_norm, paper.eval_every) == (512, 100_000, True, 2000)
    celeba = common.parse_args(fogan_celeba.Args, [], fogan_celeba.DEFAULTS)
    assert (celeba.dataset, celeba.image_size, celeba.width) == ("digits", 28, 32)
    with pytest.raises(common.UserError, match="needs its data"):
        fogan_celeba.main(["--dataset", "celeba", "--runs-dir", str(tmp_path)])  # asked for CelebA: no silent swap
    for module in (wgangp, dragan, slogan, advas):
        common.parse_args(module.Args, [], module.DEFAULTS)
        assert f"python {module.__name__}.py --dataset" in capsys.readouterr().out
        text = common.parse_args(module.Args, ["--dataset", "text"], module.DEFAULTS)
        assert text.width == 64 and text.iters < 10_000


# ---- threads ---------------------------------------------------------------------------------------------


def test_threads_default_and_flag(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        args = common.parse_args(wgangp.Args, [], wgangp.DEFAULTS)
        assert args.threads == max(1, (os.cpu_count() or 1) // 2) == torch.get_num_threads()  # half the CPUs
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert common.parse_args(wgangp.Args, [], wgangp.DEFAULTS).threads == 2
        assert common.parse_args(wgangp.Args, ["--threads", "3"], wgangp.DEFAULTS).threads == 3
        with pytest.raises(common.UserError, match="--threads"):
            common.parse_args(wgangp.Args, ["--threads", "0"], wgangp.DEFAULTS)
    finally:
        torch.set_num_threads(before)


# ---- the plot command ------------------------------------------------------------------------------------


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
    common.plot_runs(runs, "w1", str(tmp_path / "out.png"))
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


def test_plot_label_override_title_and_errors(tmp_path, monkeypatch):
    a = fake_run(tmp_path, "a", "wgangp", "swissroll", 1, [0.9, 0.5])
    b = fake_run(tmp_path, "b", "wgangp", "swissroll", 1, [0.7, 0.3])
    out = tmp_path / "plot.png"
    result = subprocess.run([sys.executable, "common.py", "plot", "w1", str(out), f"first={a}", f"second={b}",
                             "--title", "two settings"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 10_000
    figures = capture_figure(monkeypatch)
    common.plot_main(["plot", "w1", str(out), f"first={a}", f"second={b}", "--title", "two settings"])
    assert {line.get_label().split(" (")[0] for line in figures[0].axes[0].lines} == {"first", "second"}
    assert figures[0]._suptitle.get_text() == "two settings"
    for argv, message in ((["plot", "js4", str(out), a], "no run has the metric 'js4'; these runs have: w1"),
                          (["plot", "w1", str(out), str(tmp_path / "nope")], "has no metrics.csv")):
        bad = subprocess.run([sys.executable, "common.py", *argv], cwd=ROOT, capture_output=True, text=True)
        assert bad.returncode == 2 and bad.stderr.startswith("error:") and message in bad.stderr, bad.stderr
