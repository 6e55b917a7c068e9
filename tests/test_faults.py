"""Bad input and damaged state: one `error:` line and exit 2, never a traceback; nothing written is lost."""
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import common
import wgangp
from helpers import TOY, assert_one_error_line, cli, final_state, message_lines, run_script, write_billion_word

pytestmark = pytest.mark.slow  # not in the fast lane: python -m pytest -m "not slow"


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "imagenet"], "invalid choice"),
    (["--dataset", "celeba", "--data-root", "/no/such/folder"], "does not exist"),
    (["--dataset", "celeba"], "needs its data"),
    (["--iters", "0"], "--iters must be positive"),
    (["--batch-size", "-4"], "--batch-size must be positive"),
    (["--n-critic", "0"], "--n-critic must be positive"),
    (["--width", "0"], "--width must be positive"),
    (["--no-such-flag"], "unrecognized arguments"),
    (["--resume", "/no/such/run"], "no checkpoint.pt"),
])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, argv, message):
    result = run_script("wgangp.py", *argv, *([] if "--resume" in argv else ["--runs-dir", str(tmp_path)]))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing half-made is left behind


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
    with pytest.raises(common.UserError, match=r"non-finite critic_loss, penalty, generator_loss at iteration 4;"):
        wgangp.main(flags)
    assert final_state(tmp_path / "nan")["step"] == 2  # the last good checkpoint is kept


def test_bad_inputs(tmp_path):
    runs = str(tmp_path / "runs")
    tiny = ["--width", "8", "--batch-size", "8", "--iters", "2", "--runs-dir", runs]
    # a run folder that exists without --resume: refused, nothing in it overwritten
    first = run_script("wgangp.py", "--dataset", "8gaussians", "--run-name", "taken", *tiny)
    assert first.returncode == 0, first.stderr
    before = open(os.path.join(runs, "taken", "args.json")).read()
    assert_one_error_line(run_script("wgangp.py", "--dataset", "8gaussians", "--run-name", "taken", *tiny),
                          "exists already")
    assert open(os.path.join(runs, "taken", "args.json")).read() == before
    # a checkpoint from another script
    assert_one_error_line(run_script("slogan.py", "--resume", os.path.join(runs, "taken")), "is a run of wgangp.py")
    # a checkpoint of another shape
    args = json.load(open(os.path.join(runs, "taken", "args.json")))
    args["width"] = 16
    json.dump(args, open(os.path.join(runs, "taken", "args.json"), "w"))
    assert_one_error_line(run_script("wgangp.py", "--resume", os.path.join(runs, "taken")), "does not match")
    # batch larger than the dataset, odd batch for AdvAs, empty data folder, corpus with no usable line
    assert_one_error_line(run_script("dragan.py", "--dataset", "digits", "--batch-size", "4000", "--runs-dir", runs),
                          "larger than the dataset")
    assert_one_error_line(run_script("advas.py", "--batch-size", "7", "--runs-dir", runs), "must be even")
    (tmp_path / "empty").mkdir()
    assert_one_error_line(run_script("fogan_celeba.py", "--data-root", str(tmp_path / "empty"), "--runs-dir", runs),
                          "no .jpg/.png images")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_bytes(b"not an image")
    assert_one_error_line(run_script("fogan_celeba.py", "--data-root", str(tmp_path / "junk"), "--runs-dir", runs),
                          "could be read")
    write_billion_word(tmp_path / "blank", ["   ", ""])
    assert_one_error_line(run_script("fogan_text.py", "--data-root", str(tmp_path / "blank"), "--runs-dir", runs),
                          "no usable line")
    assert_one_error_line(run_script("fogan_text.py", "--eval-every", "0", "--runs-dir", runs), "must be positive")
    assert sorted(f for f in os.listdir(runs) if not f.startswith(".")) == ["taken"]  # no failed start left a folder


class Payload:
    def __reduce__(self):
        return os.system, (f"touch {MARKER}",)


MARKER = ""


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the crafted file's own protocol
def test_crafted_checkpoint_is_refused_without_running_it(tmp_path):
    global MARKER
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    MARKER = str(tmp_path / "pwned")
    with open(os.path.join(run_dir, "checkpoint.pt"), "wb") as f:
        pickle.dump({"script": "wgangp", "x": Payload()}, f)
    with pytest.raises(common.UserError, match="cannot be read"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    assert not os.path.exists(MARKER)


def test_an_overflowing_optimiser_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    result = run_script("wgangp.py", *TOY, "--lam", "1e30", "--iters", "4", "--eval-every", "1",
                        "--runs-dir", str(tmp_path), "--run-name", "big")
    assert_one_error_line(result, "non-finite values in")
    assert_one_error_line(run_script("wgangp.py", *TOY, "--lr-critic", "1e39", "--runs-dir", str(tmp_path)),
                   "--lr-critic must be a positive number below 1e30")


def test_weights_made_nan_by_a_finite_loss_are_never_saved(tmp_path, monkeypatch):
    steps = []
    real_step = torch.optim.Adam.step

    def poisoning_step(self, *a, **k):
        out = real_step(self, *a, **k)
        steps.append(1)
        if len(steps) == 12:  # iteration 4's generator step, just before its checkpoint (3 steps an iteration)
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", poisoning_step)
    with pytest.raises(common.UserError, match="non-finite values in generator after iteration 4"):
        wgangp.main(TOY + ["--n-critic", "2", "--iters", "6", "--eval-every", "2", "--runs-dir", str(tmp_path),
                           "--run-name", "nan"])
    state = torch.load(tmp_path / "nan" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 2 and common.all_finite(state["critic"]) and common.all_finite(state["generator"])


def test_disk_and_device_trouble_gives_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    assert_one_error_line(run_script("wgangp.py", *TOY, "--runs-dir", str(tmp_path / "afile")), "afile")
    assert_one_error_line(run_script("wgangp.py", *TOY, "--seed", "-1"), "--seed must be in")
    assert_one_error_line(run_script("wgangp.py", *TOY, "--device", "gpu"), "choose auto, cpu, cuda")
    assert_one_error_line(run_script("wgangp.py", *TOY, "--device", "mps"), "choose auto, cpu, cuda")
    assert_one_error_line(run_script("wgangp.py", *TOY, "--run-name", "../x", "--runs-dir", str(tmp_path)),
                   "plain folder name")
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(os.urandom(1000))
    assert_one_error_line(run_script("fogan_celeba.py", "--width", "8", "--batch-size", "8", "--fid-weights", str(garbage),
                              "--runs-dir", str(tmp_path)), "not pytorch-fid's")
    corpus = tmp_path / "bw"
    write_billion_word(corpus, ["a line ."] * 10)
    (corpus / "training-monolingual.tokenized.shuffled" / "news.en-00003-of-00100").mkdir()
    assert_one_error_line(run_script("fogan_text.py", "--data-root", str(corpus), "--runs-dir", str(tmp_path)),
                          "news.en-00003-of-00100 is not a regular file")


def test_a_full_disk_at_the_first_checkpoint_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    def disk_full(obj, path):
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(torch, "save", disk_full)
    code = cli(wgangp.main, TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "full"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and errors[0].endswith("checkpoint.pt: No space left on device"), errors
    assert not (tmp_path / "full").exists()  # nothing worth keeping: the same --run-name works again
    monkeypatch.undo()
    wgangp.main(TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "full"])


def test_ctrl_c_during_start_up_exits_130_with_one_line(capsys):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_:
        common.run_cli(interrupted)
    assert exit_.value.code == 130 and capsys.readouterr().err.startswith("error: interrupted")


def test_ctrl_c_once_the_run_has_started_is_one_line_and_exit_130(tmp_path):
    """From the run's first line on (before the loop, in the loop): exit 130, no traceback, at most one line besides
    progress (an `error:` line, or the stop signal's "saving a checkpoint" line)."""
    import subprocess
    import sys
    for delay in (0.0, 0.3, 1.0, 2.5):
        process = subprocess.Popen([sys.executable, "-u", wgangp.__file__, *TOY, "--iters", "5000", "--runs-dir",
                                    str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in process.stdout:
            if "writing to" in line:
                break
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        lines = message_lines(err)
        assert process.returncode == 130 and "Traceback" not in err and len(lines) <= 1, (delay, err)
        assert all(line.startswith("error: interrupted") or "saving a checkpoint" in line for line in lines), err


def test_a_nan_at_iteration_1_leaves_no_folder_blocking_the_name(tmp_path, monkeypatch):
    monkeypatch.setattr(wgangp, "gradient_penalty", lambda *a, **k: torch.tensor(float("nan")))
    assert cli(wgangp.main, TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "n"]) == 2
    assert not (tmp_path / "n").exists()


def test_damaged_run_state_is_one_line(tmp_path):
    run_dir = wgangp.main(["--dataset", "digits", "--width", "4", "--batch-size", "8", "--iters", "2",
                           "--fid-weights", "none", "--runs-dir", str(tmp_path)])
    args_path = os.path.join(run_dir, "args.json")
    settings = json.load(open(args_path))
    json.dump({**settings, "width": "wide"}, open(args_path, "w"))
    with pytest.raises(common.UserError, match="width = 'wide', not a valid setting"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    json.dump(settings, open(args_path, "w"))
    state = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)
    state["data"]["order"] = state["data"]["order"][:5]  # a stream of another dataset
    torch.save(state, os.path.join(run_dir, "checkpoint.pt"))
    with pytest.raises(common.UserError, match="its data does not match"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    state["data"] = "garbage"
    torch.save(state, os.path.join(run_dir, "checkpoint.pt"))
    with pytest.raises(common.UserError, match="damaged|does not match"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])


def test_links_and_pipes_in_a_run_folder(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    # a link planted where a temp file will be written is replaced, not written through
    os.symlink(victim, os.path.join(run_dir, f"args.json.tmp{os.getpid()}"))
    os.symlink(victim, os.path.join(run_dir, f"checkpoint.pt.tmp{os.getpid()}"))
    wgangp.main(["--resume", run_dir, "--iters", "4"])
    assert victim.read_text() == "keep me" and final_state(run_dir)["step"] == 4
    assert json.load(open(os.path.join(run_dir, "args.json")))["iters"] == 4
    # a .lock linked to another file is refused, the file untouched
    os.remove(os.path.join(run_dir, ".lock"))
    os.symlink(os.path.join(run_dir, "args.json"), os.path.join(run_dir, ".lock"))
    before = open(os.path.join(run_dir, "args.json")).read()
    assert_one_error_line(run_script("wgangp.py", "--resume", run_dir, "--iters", "6"), "lock file")
    assert open(os.path.join(run_dir, "args.json")).read() == before
    # a named pipe as args.json or .lock: one line, no hang
    os.remove(os.path.join(run_dir, ".lock"))
    os.mkfifo(os.path.join(run_dir, ".lock"))
    assert_one_error_line(run_script("wgangp.py", "--resume", run_dir, "--iters", "6"), "not a regular file")
    os.remove(os.path.join(run_dir, ".lock"))
    os.rename(os.path.join(run_dir, "args.json"), os.path.join(run_dir, "args.saved"))
    os.mkfifo(os.path.join(run_dir, "args.json"))
    assert_one_error_line(run_script("wgangp.py", "--resume", run_dir, "--iters", "6"), "args.json cannot be read")


def test_flags_that_would_be_silently_misread_are_one_line(tmp_path, capsys):
    runs = ["--runs-dir", str(tmp_path / "runs")]
    with pytest.raises(common.UserError, match="28x28 images train WGAN-GP's MNIST nets"):
        wgangp.main(["--dataset", "digits", "--arch", "resnet", "--iters", "1"] + runs)
    with pytest.raises(common.UserError, match="--data-root is for images and text"):
        wgangp.main(["--dataset", "swissroll", "--data-root", str(tmp_path)] + runs)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(common.UserError, match="--cache-dir .* is a file"):
        wgangp.main(TOY + ["--cache-dir", str(tmp_path / "a_file")] + runs)
    with pytest.raises(common.UserError, match="is a file, not a folder"):
        wgangp.main(["--dataset", "folder", "--data-root", str(tmp_path / "a_file")] + runs)
    with pytest.raises(common.UserError, match="--fid-stats .*: not an .npz"):
        wgangp.main(["--dataset", "digits", "--fid-weights", "none", "--fid-stats", str(tmp_path / "a_file"),
                     "--width", "4", "--batch-size", "8", "--iters", "1"] + runs)
    run_dir = wgangp.main(TOY + ["--iters", "4", "--eval-every", "2"] + runs)
    settings = open(os.path.join(run_dir, "args.json")).read()
    with pytest.raises(common.UserError, match="is at iteration 4; --iters 2 is below it"):
        wgangp.main(["--resume", run_dir, "--iters", "2"])
    capsys.readouterr()
    wgangp.main(["--resume", run_dir])  # finished: says so, changes nothing
    assert "has already finished its 4 iterations; pass --iters N" in capsys.readouterr().out
    assert open(os.path.join(run_dir, "args.json")).read() == settings
    with pytest.raises(common.UserError, match="not --runs-dir"):
        wgangp.main(["--resume", run_dir, "--runs-dir", str(tmp_path / "elsewhere")])
    assert open(os.path.join(run_dir, ".lock")).read() == ""  # a finished run's lock names no process


def test_doubtful_but_valid_settings_run_with_a_warning(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--eval-samples", "5", "--log-every", "50",
                                     "--threads", str(4 * (os.cpu_count() or 1)), "--runs-dir", str(tmp_path)])
    finally:
        torch.set_num_threads(before)
    err = capsys.readouterr().err
    assert os.path.exists(os.path.join(run_dir, "checkpoint.pt"))
    for warning in ("--threads", "--log-every 50 is above --iters 2", "--eval-samples 5"):
        assert f"warning: {warning}" in err, err


def test_common_py_run_by_mistake_says_what_it_is():
    result = run_script("common.py", "--help")
    assert result.returncode == 0 and "Not a script" in result.stdout


def test_an_error_is_the_only_line_a_failed_start_prints(tmp_path):
    for argv in (["--device", "gpu"], ["--dataset", "celeba"], ["--dataset", "folder", "--data-root", str(tmp_path)]):
        result = run_script("wgangp.py", *argv, "--runs-dir", str(tmp_path / "runs"))
        assert result.stdout == "", result.stdout  # no note about the demo or the paper's setting before it
        assert_one_error_line(result, "")


def test_a_full_disk_at_a_checkpoint_or_tensorboard_write_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    def no_space(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:858] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")
    monkeypatch.setattr(torch, "save", no_space)
    assert cli(wgangp.main, TOY + ["--iters", "2", "--runs-dir", str(tmp_path / "a"), "--run-name", "r"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "it/s" not in line
           and not line.startswith("warning:")]
    assert len(err) == 1 and "checkpoint.pt: cannot be written" in err[0] and "failed writing" in err[0], err
    monkeypatch.undo()
    from torch.utils.tensorboard import SummaryWriter

    def full(self):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(SummaryWriter, "flush", full)
    assert cli(wgangp.main, TOY + ["--iters", "2", "--runs-dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: TensorBoard events cannot be written in") and "No space left" in err[-1]


def test_crafted_or_mismatched_run_state_is_one_line(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    path = os.path.join(run_dir, "checkpoint.pt")
    good = torch.load(path, weights_only=True)

    def resume_with(state, message):
        torch.save(state, path)
        with pytest.raises(common.UserError, match=message):
            wgangp.main(["--resume", run_dir, "--iters", "4"])

    crafted = torch.load(path, weights_only=True)
    first = next(iter(crafted["opt_critic"]["state"].values()))
    first["exp_avg"] = torch.zeros(3)  # Adam statistics of another shape than their parameter
    resume_with(crafted, "statistics of another shape")
    for step in (-5, 10 ** 12):
        resume_with({**good, "step": step}, f"damaged \\(step {step}\\)")
    resume_with({**good, "critic": {**good["critic"], "0.weight": torch.zeros(3, 3)}}, "size mismatch")  # whole message
    torch.save(good, path)
    settings = json.load(open(os.path.join(run_dir, "args.json")))
    json.dump({**settings, "optimizer": "rmsprop"}, open(os.path.join(run_dir, "args.json"), "w"))
    with pytest.raises(common.UserError, match="its opt_generator is Adam, this run's RMSprop"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    json.dump({**settings, "optimizer": "sgd"}, open(os.path.join(run_dir, "args.json"), "w"))
    with pytest.raises(common.UserError, match="optimizer = 'sgd', not a valid setting"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    open(os.path.join(run_dir, "args.json"), "w").write("[" * 100_000 + "]" * 100_000)  # nested beyond recursion
    with pytest.raises(common.UserError, match="args.json cannot be read"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    for flag, value in (("--beta1", "5"), ("--beta2", "nan")):
        with pytest.raises(common.UserError, match=f"{flag} must be in \\[0, 1\\)"):
            wgangp.main(TOY + [flag, value, "--runs-dir", str(tmp_path / "x")])


def test_huge_but_finite_weights_stop_the_toy_evaluation_with_one_line(tmp_path):
    result = run_script("wgangp.py", *TOY, "--lr-generator", "1e29", "--iters", "4", "--eval-every", "2",
                        "--runs-dir", str(tmp_path))
    assert_one_error_line(result, "")
    assert "non-finite" in result.stderr or "not finite" in result.stderr


def test_foreign_or_undecodable_metrics_lines_are_dropped_not_glued(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    path = os.path.join(run_dir, "metrics.csv")
    with open(path, "ab") as f:
        f.write(b"garbage,\xe9\xff,1\n3,1.0")  # latin-1 bytes and a torn line
    wgangp.main(["--resume", run_dir, "--iters", "4"])
    rows = common.read_metrics_rows(path)
    assert [r["iteration"] for r in rows] == ["2", "4"] and all(r["w1"] for r in rows)
    open(path, "w").write("a,b\n1,2\n")  # a foreign file in its place
    wgangp.main(["--resume", run_dir, "--iters", "6"])
    assert [r["iteration"] for r in common.read_metrics_rows(path)] == ["4", "6"]  # 4: its row was lost, re-run
    assert open(path).readline().startswith("iteration,seconds")
    os.remove(path)
    os.mkfifo(path)
    assert_one_error_line(run_script("wgangp.py", "--resume", run_dir, "--iters", "8"), "not a regular file")


def test_a_stop_signal_after_the_final_checkpoint_is_a_finished_run(tmp_path, monkeypatch):
    real_due = common.Run.checkpoint_due

    def signal_at_the_end(self, done):
        if done == self.args.iters:
            self.stop_signal = signal.SIGTERM  # SIGTERM during the last iteration
        return real_due(self, done)
    monkeypatch.setattr(common.Run, "checkpoint_due", signal_at_the_end)
    common.run_cli(lambda: wgangp.main(TOY + ["--iters", "2", "--runs-dir", str(tmp_path)]))  # returns: exit 0


def test_a_killed_writers_leftovers_are_removed(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path / "runs"),
                                 "--cache-dir", str(tmp_path / "cache")])
    dead = 2 ** 22 + 12345  # beyond Linux's default pid range: no such process
    for name in (f"checkpoint.pt.tmp{dead}", f"metrics.csv.tmp{dead}"):
        open(os.path.join(run_dir, name), "w").write("half")
    cache_file = tmp_path / "cache" / "x.npz"
    cache_file.parent.mkdir(exist_ok=True)
    open(f"{cache_file}.tmp{dead}", "w").write("half of a big cache")
    wgangp.main(["--resume", run_dir, "--iters", "4"])
    assert not [f for f in os.listdir(run_dir) if ".tmp" in f]
    common.save_cached(str(cache_file), lambda f: np.savez(f, a=np.zeros(1)))
    assert sorted(os.listdir(tmp_path / "cache")) == ["x.npz"]


def test_settings_that_would_do_nothing_are_one_line_not_a_silent_record(tmp_path):
    runs = ["--runs-dir", str(tmp_path / "runs")]
    for flags, message in ((["--critic-norm", "layer"], "--critic-norm is for the image critics"),
                           (["--generator-batch-norm"], "--generator-batch-norm is for the text generator"),
                           (["--dataset", "text", "--image-size", "64"], "--image-size is for image data"),
                           (["--fid-weights", "/nonexistent.pth"], "--fid-weights and --fid-stats are for image"),
                           (["--runs-dir", "README.md"], "is a file, not a folder")):
        with pytest.raises(common.UserError, match=message):
            wgangp.main(runs + flags)
    (tmp_path / "colour").mkdir()
    from PIL import Image
    for i in range(10):
        Image.fromarray(np.full((40, 40, 3), 20 * i, dtype=np.uint8)).save(tmp_path / "colour" / f"{i}.png")
    with pytest.raises(common.UserError, match="pass --image-size 32 or 64"):  # before any image is decoded
        wgangp.main(runs + ["--dataset", "folder", "--data-root", str(tmp_path / "colour"), "--image-size", "28"])
    assert not (tmp_path / "runs").exists()  # no cache, no folder


def test_a_resume_names_the_script_that_wrote_the_run_and_a_cut_checkpoint_says_so(tmp_path):
    import advas
    import fogan_text
    run_dir = advas.main(["--dataset", "swissroll", "--width", "8", "--batch-size", "8", "--iters", "2",
                          "--eval-samples", "20", "--runs-dir", str(tmp_path)])
    with pytest.raises(common.UserError, match=r"is a run of advas.py, not fogan_text.py: python advas.py --resume"):
        fogan_text.main(["--resume", run_dir])
    checkpoint = os.path.join(run_dir, "checkpoint.pt")
    data = open(checkpoint, "rb").read()
    open(checkpoint, "wb").write(data[: len(data) // 2])
    with pytest.raises(common.UserError, match="damaged, cut short"):
        advas.main(["--resume", run_dir, "--iters", "4"])


def test_a_run_killed_before_its_first_checkpoint_does_not_block_its_name(tmp_path, capsys):
    """kill -9 between the folder's creation and the first checkpoint leaves .lock, args.json and TensorBoard's
    first file; the same command then starts again. A folder in use names its holder; other files are kept."""
    import fcntl
    flags = TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "r"]
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "args.json").write_text("{}")
    (folder / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    (folder / ".lock").write_text("process 1 on host since then\n")
    for path in [folder, *folder.iterdir()]:  # written a minute ago by the killed start
        os.utime(path, (time.time() - 60, time.time() - 60))
    with open(folder / ".lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # while another process holds it: refused, named
        with pytest.raises(common.UserError, match="in use by process 1 on host"):
            wgangp.main(flags)
    wgangp.main(flags)  # the killed start's leftover: removed, and the run starts
    assert final_state(folder)["step"] == 2 and "left by a run stopped" in capsys.readouterr().err
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("my own file")
    with pytest.raises(common.UserError, match="holds no checkpoint"):
        wgangp.main(flags[:-1] + ["mine"])
    assert (other / "notes.txt").read_text() == "my own file"


def test_crafted_optimiser_settings_seconds_or_dataset_are_one_line_and_leave_args_json_as_it_was(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    path, settings = os.path.join(run_dir, "checkpoint.pt"), os.path.join(run_dir, "args.json")
    good, recorded = torch.load(path, weights_only=True), open(settings).read()

    def with_groups(**change):
        groups = [{**g, **change} for g in good["opt_critic"]["param_groups"]]
        return {**good, "opt_critic": {**good["opt_critic"], "param_groups": groups}}

    def with_state(**change):  # Adam's per-parameter state: its step count and moments
        state = {k: {**v, **{name: value.expand_as(v[name]) if v[name].dim() else value
                             for name, value in change.items()}} for k, v in good["opt_critic"]["state"].items()}
        return {**good, "opt_critic": {**good["opt_critic"], "state": state}}
    for state, message in ((with_groups(betas="ab"), "its opt_critic's betas is 'ab'"),
                           (with_groups(lr="0.1"), "its opt_critic's lr is '0.1'"),
                           (with_groups(eps=float("nan")), "its opt_critic's eps is 'nan'"),
                           ({**good, "seconds": float("nan")}, "damaged \\(seconds nan\\)"),
                           ({**good, "step": -10 ** 9}, "damaged \\(step"),
                           (with_state(step=torch.tensor(-1e9)), "a step count of -1e\\+09"),
                           (with_state(exp_avg_sq=torch.tensor(float("inf"))), "non-finite moments")):
        torch.save(state, path)
        with pytest.raises(common.UserError, match=message):
            wgangp.main(["--resume", run_dir, "--iters", "4"])
        assert open(settings).read() == recorded  # the refused resume is not recorded
    torch.save(good, path)
    json.dump({**json.loads(recorded), "dataset": "swissroll"}, open(settings, "w"))  # other data, same shapes
    with pytest.raises(common.UserError, match="trained on '8gaussians'; args.json now says 'swissroll'"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])


def test_a_plain_pickle_checkpoint_is_one_line_without_torchs_warnings(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    with open(os.path.join(run_dir, "checkpoint.pt"), "wb") as f:
        pickle.dump({"script": "wgangp", "x": {1, 2}}, f, protocol=4)
    result = run_script("wgangp.py", "--resume", run_dir, "--iters", "4")
    assert_one_error_line(result, "cannot be read")
    assert "Warning" not in result.stderr, result.stderr


def test_a_width_no_memory_holds_is_one_line(tmp_path, capsys):
    assert cli(wgangp.main, TOY + ["--width", "1000000", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message_lines(err) == [message_lines(err)[0]] and "error: out of memory" in err, err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("lines", [b"8,1.0\x00\x01\xfe,3\n", b"8,1\r2,3\n", b"8," + b"x" * (50 << 20) + b"\n",
                                   bytes(range(256)) + b"\n"], ids=["binary", "carriage-return", "50MB-line", "bytes"])
def test_a_metrics_csv_with_lines_no_reader_can_parse_resumes_and_keeps_them_aside(tmp_path, lines, capsys):
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    path = os.path.join(run_dir, "metrics.csv")
    with open(path, "ab") as f:
        f.write(lines)
    before = open(path, "rb").read()
    wgangp.main(["--resume", run_dir, "--iters", "4"])
    assert [r["iteration"] for r in common.read_metrics_rows(path)] == ["2", "4"]
    aside = [name for name in os.listdir(run_dir) if name.startswith("metrics.csv.unreadable-")]
    assert len(aside) == 1 and open(os.path.join(run_dir, aside[0]), "rb").read() == before
    assert "kept in" in capsys.readouterr().err


def test_a_signal_after_a_finished_runs_clean_up_leaves_exit_status_0(tmp_path):
    from helpers import ROOT
    script = ("import os, signal, sys; sys.path.insert(0, sys.argv[1]); import common; from wgangp import main; "
              "sys.argv = ['wgangp.py'] + sys.argv[2:]; common.run_cli(main); "
              "os.kill(os.getpid(), signal.SIGTERM); os.kill(os.getpid(), signal.SIGINT); print('exited')")
    for extra in ([], ["--resume"]):  # a finished run, and a resume of one that has nothing left to do
        argv = extra + [str(tmp_path / "r")] if extra else TOY + ["--iters", "2", "--runs-dir", str(tmp_path),
                                                                   "--run-name", "r"]
        result = subprocess.run([sys.executable, "-c", script, ROOT, *argv], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0 and "exited" in result.stdout, (result.returncode, result.stderr[-500:])
    common.run_cli(lambda: wgangp.main(["--resume", str(tmp_path / "r")]))  # a caller that goes on (this test)
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # keeps its Ctrl-C


def test_a_resume_keeps_one_row_per_iteration_in_order_and_logs_iterations_per_second_at_once(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run_dir = wgangp.main(TOY + ["--iters", "4", "--eval-every", "2", "--log-every", "2", "--runs-dir", str(tmp_path)])
    path = os.path.join(run_dir, "metrics.csv")
    lines = open(path).read().splitlines()
    open(path, "w").write("\n".join(lines + [lines[1]]) + "\n")  # iteration 2's row again, after 4's
    before = open(path).read()
    wgangp.main(["--resume", run_dir, "--iters", "8"])
    assert [r["iteration"] for r in common.read_metrics_rows(path)] == ["2", "4", "6", "8"]
    aside = [n for n in os.listdir(run_dir) if n.startswith("metrics.csv.unreadable-")]
    assert len(aside) == 1 and open(os.path.join(run_dir, aside[0])).read() == before  # nothing lost
    assert "rows out of order or twice" in capsys.readouterr().err
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("train/iterations_per_second")] == [2, 4, 6, 8]  # 6: the first after it


def test_a_full_disk_at_the_lock_write_is_one_line_naming_the_lock(tmp_path, monkeypatch, capsys):
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    real_pwrite = os.pwrite

    def full(fd, data, offset):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "pwrite", full)
    for argv in (["--resume", run_dir, "--iters", "4"], TOY + ["--iters", "2", "--runs-dir", str(tmp_path / "new")]):
        assert cli(wgangp.main, argv) == 2
        err = message_lines(capsys.readouterr().err)
        assert len(err) == 1 and ".lock cannot be written (No space left on device)" in err[0], err
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    assert not os.path.exists(tmp_path / "new") or not os.listdir(tmp_path / "new")  # the new run left nothing
    wgangp.main(["--resume", run_dir, "--iters", "4"])  # and the old one resumes once there is room


def test_a_full_disk_under_tensorboards_writer_thread_is_one_line_naming_the_run(tmp_path, monkeypatch, capsys):
    from tensorboard.summary.writer import record_writer

    def full(self, data):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(record_writer.RecordWriter, "write", full)
    assert cli(wgangp.main, TOY + ["--iters", "2", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    lines = message_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error: TensorBoard events cannot be written in " + str(tmp_path))
    assert "No space left on device" in lines[0] and "Traceback" not in err and "Exception in thread" not in err, err


def test_the_loser_of_a_same_name_race_is_told_to_wait_not_to_remove_the_winners_folder(tmp_path, capsys):
    flags = TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "r"]
    folder = tmp_path / "r"
    folder.mkdir()  # the winner between its mkdir and its lock
    with pytest.raises(common.UserError, match="made 0 s ago by another run starting under this name; wait"):
        wgangp.main(flags)
    assert folder.is_dir()  # untouched
    os.utime(folder, (time.time() - 60, time.time() - 60))  # an empty leftover of a start killed a minute ago
    wgangp.main(flags)
    assert final_state(folder)["step"] == 2 and "left by a run stopped" in capsys.readouterr().err
