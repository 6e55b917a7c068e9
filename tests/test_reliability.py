"""Exact resume, safe checkpoints, NaN guard, Ctrl-C, and bad input -> one line + exit 2."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import common
import dragan
import fogan_celeba
import fogan_text
import slogan
import wgangp
import advas
from helpers import write_billion_word

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def final_state(run_dir):
    return torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)


def assert_same_weights(a, b):
    for name in ("generator", "critic"):
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key} differs"


@pytest.mark.parametrize("module,flags", [
    (wgangp, ["--dataset", "25gaussians", "--width", "16", "--batch-size", "16", "--eval-samples", "50"]),
    (slogan, ["--dataset", "digits", "--width", "8", "--batch-size", "8", "--n-critic", "2", "--fid-weights", "none"]),
    (fogan_text, ["--width", "8", "--batch-size", "8", "--eval-samples", "32"]),
    (advas, ["--dataset", "swissroll", "--width", "8", "--batch-size", "8", "--eval-samples", "50", "--n-critic", "1"]),
])
def test_resume_is_bit_identical(tmp_path, module, flags):
    """20 iterations straight == 10, stop, --resume, 10 more (toy, image and text data)."""
    common_flags = flags + ["--eval-every", "10", "--runs-dir", str(tmp_path)]
    straight = module.main(common_flags + ["--iters", "20", "--run-name", "straight"])
    halves = module.main(common_flags + ["--iters", "10", "--run-name", "halves"])
    module.main(["--resume", halves, "--iters", "20"])
    assert_same_weights(final_state(straight), final_state(halves))
    assert final_state(halves)["step"] == 20
    rows = open(os.path.join(halves, "metrics.csv")).read().splitlines()
    assert [r.split(",")[0] for r in rows] == ["iteration", "10", "20"]


def test_resume_drops_metrics_written_after_the_checkpoint(tmp_path):
    flags = ["--dataset", "8gaussians", "--width", "8", "--batch-size", "8", "--eval-samples", "20",
             "--runs-dir", str(tmp_path), "--run-name", "r", "--iters", "4", "--eval-every", "2"]
    run_dir = wgangp.main(flags)
    with open(os.path.join(run_dir, "metrics.csv"), "a") as f:
        f.write("6,1.0,0.1,3,0.5,0.2\n")  # an evaluation whose checkpoint never landed
    wgangp.main(["--resume", run_dir, "--iters", "6"])
    rows = open(os.path.join(run_dir, "metrics.csv")).read().splitlines()
    assert [r.split(",")[0] for r in rows] == ["iteration", "2", "4", "6"]


def test_checkpoint_write_killed_midway_keeps_the_previous_one(tmp_path, monkeypatch):
    args = wgangp.Args(dataset="8gaussians", runs_dir=str(tmp_path), run_name="r")
    run = common.Run("wgangp", args)
    net = torch.nn.Linear(2, 2)
    run.start(generator=net)
    run.save(5, generator=net)

    def dies_midway(obj, path):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the process is killed while writing

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        run.save(10, generator=net)
    monkeypatch.undo()
    assert final_state(run.dir)["step"] == 5


def test_nan_stops_with_the_iteration_and_the_term(tmp_path, monkeypatch):
    real_penalty = wgangp.gradient_penalty
    calls = []

    def poisoned(*a, **k):
        calls.append(1)
        value = real_penalty(*a, **k)
        return value * float("nan") if len(calls) == 4 else value

    monkeypatch.setattr(wgangp, "gradient_penalty", poisoned)
    flags = ["--dataset", "8gaussians", "--width", "8", "--batch-size", "8", "--n-critic", "1", "--iters", "10",
             "--eval-every", "2", "--eval-samples", "20", "--runs-dir", str(tmp_path), "--run-name", "nan"]
    with pytest.raises(common.UserError, match=r"non-finite critic_loss, penalty at iteration 4;"):
        wgangp.main(flags)
    assert final_state(tmp_path / "nan")["step"] == 2  # the last good checkpoint is kept


def run_script(script, *argv):
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def assert_one_line_error(result, message):
    lines = [line for line in result.stderr.splitlines() if line.strip() and "it/s" not in line and "%|" not in line]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr


def test_bad_inputs(tmp_path):
    runs = str(tmp_path / "runs")
    tiny = ["--width", "8", "--batch-size", "8", "--iters", "2", "--runs-dir", runs]
    # a run folder that exists without --resume: refused, nothing in it overwritten
    first = run_script("wgangp.py", "--dataset", "8gaussians", "--run-name", "taken", *tiny)
    assert first.returncode == 0, first.stderr
    before = open(os.path.join(runs, "taken", "args.json")).read()
    assert_one_line_error(run_script("wgangp.py", "--dataset", "8gaussians", "--run-name", "taken", *tiny),
                          "exists already")
    assert open(os.path.join(runs, "taken", "args.json")).read() == before
    # a checkpoint from another script
    assert_one_line_error(run_script("slogan.py", "--resume", os.path.join(runs, "taken")), "written by wgangp")
    # a checkpoint of another shape
    args = json.load(open(os.path.join(runs, "taken", "args.json")))
    args["width"] = 16
    json.dump(args, open(os.path.join(runs, "taken", "args.json"), "w"))
    assert_one_line_error(run_script("wgangp.py", "--resume", os.path.join(runs, "taken")), "does not match")
    # batch larger than the dataset, odd batch for AdvAs, empty data folder, corpus with no usable line
    assert_one_line_error(run_script("dragan.py", "--dataset", "digits", "--batch-size", "4000", "--runs-dir", runs),
                          "larger than the dataset")
    assert_one_line_error(run_script("advas.py", "--batch-size", "7", "--runs-dir", runs), "must be even")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_script("fogan_celeba.py", "--data-root", str(tmp_path / "empty"), "--runs-dir", runs),
                          "no .jpg/.png images")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_bytes(b"not an image")
    assert_one_line_error(run_script("fogan_celeba.py", "--data-root", str(tmp_path / "junk"), "--runs-dir", runs),
                          "could be read")
    write_billion_word(tmp_path / "blank", ["   ", ""])
    assert_one_line_error(run_script("fogan_text.py", "--data-root", str(tmp_path / "blank"), "--runs-dir", runs),
                          "no usable line")
    assert_one_line_error(run_script("fogan_text.py", "--eval-every", "0", "--runs-dir", runs), "must be positive")
    assert sorted(f for f in os.listdir(runs) if not f.startswith(".")) == ["taken"]  # no failed start left a folder


def test_sigint_writes_a_checkpoint_and_exits_cleanly(tmp_path):
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "wgangp.py"), "--dataset", "8gaussians",
                                "--width", "8", "--batch-size", "8", "--iters", "1000000", "--eval-every", "1000000",
                                "--eval-samples", "20", "--runs-dir", str(tmp_path), "--run-name", "r"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not os.path.exists(tmp_path / "r" / "args.json") and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, err  # a clean save, then the shell's "stopped by SIGINT"
    state = final_state(tmp_path / "r")
    assert 0 < state["step"] < 1_000_000
    assert open(tmp_path / "r" / "metrics.csv").read().splitlines()[-1].startswith(str(state["step"]))


def test_signal_handlers_are_restored_after_a_run(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    wgangp.main(["--dataset", "8gaussians", "--width", "8", "--batch-size", "8", "--iters", "2", "--eval-samples", "20",
                 "--runs-dir", str(tmp_path)])
    assert signal.getsignal(signal.SIGINT) is before
