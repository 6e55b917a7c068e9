"""Bad input and damaged state: one `error:` line and exit 2, never a traceback; nothing written is lost."""
import json
import os
import pickle
import re
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
    assert_one_error_line(run_script("slogan.py", "--resume", os.path.join(runs, "taken")),
                          "written by wgangp, not slogan: python wgangp.py --resume")
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
    assert not (tmp_path / "full" / "checkpoint.pt").exists()
    monkeypatch.undo()  # once there is room, the same command starts again (a start without a checkpoint is reused)
    wgangp.main(TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "full"])
    assert final_state(tmp_path / "full")["step"] == 2


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
    monkeypatch.undo()
    wgangp.main(TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "n"])  # the name is free
    assert final_state(tmp_path / "n")["step"] == 2


def test_damaged_run_state_is_one_line(tmp_path):
    run_dir = wgangp.main(["--dataset", "digits", "--width", "4", "--batch-size", "8", "--iters", "2",
                           "--fid-weights", "none", "--runs-dir", str(tmp_path)])
    state = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)
    state["data"]["order"] = state["data"]["order"][:5]  # a stream of another dataset
    torch.save(state, os.path.join(run_dir, "checkpoint.pt"))
    with pytest.raises(common.UserError, match="its data does not match"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])


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


def test_a_checkpoint_of_other_settings_is_one_line(tmp_path):
    """A checkpoint whose nets are not this run's (args.json's width changed by hand) or of other data is one line
    naming what differs; the settings' own checks stay one line too."""
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    settings = json.load(open(os.path.join(run_dir, "args.json")))
    json.dump({**settings, "width": 16}, open(os.path.join(run_dir, "args.json"), "w"))
    with pytest.raises(common.UserError, match="its generator does not match this run's .*size mismatch"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    json.dump({**settings, "dataset": "swissroll"}, open(os.path.join(run_dir, "args.json"), "w"))
    with pytest.raises(common.UserError, match="trained on '8gaussians'; args.json now says 'swissroll'"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    for flag, value in (("--beta1", "5"), ("--beta2", "nan")):
        with pytest.raises(common.UserError, match=f"{flag} must be in \\[0, 1\\)"):
            wgangp.main(TOY + [flag, value, "--runs-dir", str(tmp_path / "x")])


def test_huge_but_finite_weights_stop_the_toy_evaluation_with_one_line(tmp_path):
    result = run_script("wgangp.py", *TOY, "--lr-generator", "1e29", "--iters", "4", "--eval-every", "2",
                        "--runs-dir", str(tmp_path))
    assert_one_error_line(result, "")
    assert "non-finite" in result.stderr or "not finite" in result.stderr


def test_a_stop_signal_after_the_final_checkpoint_is_a_finished_run(tmp_path, monkeypatch):
    real_due = common.Run.checkpoint_due

    def signal_at_the_end(self, done):
        if done == self.args.iters:
            self.stop_signal = signal.SIGTERM  # SIGTERM during the last iteration
        return real_due(self, done)
    monkeypatch.setattr(common.Run, "checkpoint_due", signal_at_the_end)
    common.run_cli(lambda: wgangp.main(TOY + ["--iters", "2", "--runs-dir", str(tmp_path)]))  # returns: exit 0


def test_a_killed_writers_copies_are_removed_and_a_users_own_files_kept(tmp_path):
    """Every write goes through a uniquely named .NAME.XXXX.tmp beside its file (two hosts with the same pid never
    collide); a kill leaves such a copy, which the next start removes. A user's file with .tmp in its name stays."""
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path / "runs"),
                                 "--cache-dir", str(tmp_path / "cache")])
    for name in (".checkpoint.pt.k3j2x9.tmp", ".metrics.csv.a8sd7f.tmp", "notes.tmp", "model.tmp123"):
        open(os.path.join(run_dir, name), "w").write("half")
    wgangp.main(["--resume", run_dir, "--iters", "4"])
    assert sorted(f for f in os.listdir(run_dir) if "tmp" in f) == ["model.tmp123", "notes.tmp"]


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
    with pytest.raises(common.UserError, match=r"written by advas, not fogan_text: python advas.py --resume"):
        fogan_text.main(["--resume", run_dir])
    checkpoint = os.path.join(run_dir, "checkpoint.pt")
    data = open(checkpoint, "rb").read()
    open(checkpoint, "wb").write(data[: len(data) // 2])
    with pytest.raises(common.UserError, match="damaged, cut short"):
        advas.main(["--resume", run_dir, "--iters", "4"])


def test_a_run_killed_before_its_first_checkpoint_does_not_block_its_name(tmp_path, capsys):
    """kill -9 between the folder's creation and the first checkpoint leaves .lock, args.json, TensorBoard's first
    file and maybe a row; the same command then starts again there, without the dead start's events and rows. A
    folder in use is refused naming its holder; a folder with a checkpoint asks for --resume; a user's files stay."""
    import fcntl
    flags = TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "r"]
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "args.json").write_text("{}")
    (folder / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    (folder / "notes.txt").write_text("my own file")
    (folder / ".lock").write_text("process 1 on host since then\n")
    with open(folder / ".lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # while another process holds it: refused, named
        with pytest.raises(common.UserError, match="in use by process 1 on host"):
            wgangp.main(flags)
    wgangp.main(flags)  # the killed start's folder: reused
    assert final_state(folder)["step"] == 2 and (folder / "notes.txt").read_text() == "my own file"
    assert not (folder / "events.out.tfevents.1.host.1.0").exists()
    with pytest.raises(common.UserError, match="exists already; pass --resume"):
        wgangp.main(flags)


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


def test_a_resume_logs_iterations_per_second_from_its_first_logged_iteration(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run_dir = wgangp.main(TOY + ["--iters", "4", "--eval-every", "2", "--log-every", "2", "--runs-dir", str(tmp_path)])
    wgangp.main(["--resume", run_dir, "--iters", "8"])
    assert [r["iteration"] for r in common.read_metrics_rows(os.path.join(run_dir, "metrics.csv"))] == [
        "2", "4", "6", "8"]
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("train/iterations_per_second")] == [2, 4, 6, 8]  # 6: the first after it


def test_a_full_disk_under_tensorboards_writer_thread_ends_the_run_with_a_line_naming_it(tmp_path, monkeypatch, capsys):
    """TensorBoard's writer thread may print its own report; the run's last line names the run folder and the
    problem, and the exit status is 2."""
    from tensorboard.summary.writer import record_writer

    def full(self, data):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(record_writer.RecordWriter, "write", full)
    assert cli(wgangp.main, TOY + ["--iters", "2", "--runs-dir", str(tmp_path)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(tmp_path) in last and "No space left on device" in last, last


# ---- the promises of docs/usage.md, "What a run survives" ----------------------------------------------------------

def test_a_wall_clock_checkpoint_between_evaluations_resumes_as_the_run_never_stopped(tmp_path, monkeypatch):
    """--checkpoint-minutes writes checkpoints between evaluations; a kill after one loses nothing: the resumed run
    ends with the checkpoint and the rows of the run never killed (no row for the timed checkpoint)."""
    flags = TOY + ["--iters", "6", "--eval-every", "6", "--checkpoint-minutes", "0"]
    reference = wgangp.main(flags + ["--runs-dir", str(tmp_path / "a")])
    real_save = common.Run.save

    def killed_after(self, step, **state):
        real_save(self, step, **state)
        if step == 3:
            raise SystemExit(137)  # as a kill -9 right after the timed checkpoint of iteration 3
    monkeypatch.setattr(common.Run, "save", killed_after)
    with pytest.raises(SystemExit):
        wgangp.main(flags + ["--runs-dir", str(tmp_path / "b"), "--run-name", "r"])
    monkeypatch.undo()
    assert final_state(tmp_path / "b" / "r")["step"] == 3 and common.read_metrics_rows(tmp_path / "b" / "r" / "metrics.csv") == []
    wgangp.main(["--resume", str(tmp_path / "b" / "r")])
    want, got = final_state(reference), final_state(tmp_path / "b" / "r")
    for name in ("generator", "critic"):
        assert all(torch.equal(want[name][k], got[name][k]) for k in want[name])
    rows = lambda d: [{k: v for k, v in r.items() if k != "seconds"} for r in common.read_metrics_rows(
        os.path.join(d, "metrics.csv"))]
    assert rows(reference) == rows(tmp_path / "b" / "r") and len(rows(reference)) == 1


def test_a_failed_metrics_append_is_one_line_and_a_resume_keeps_each_row_once(tmp_path, monkeypatch, capsys):
    """An EIO / EDQUOT at the metrics.csv append (after part of the row reached the disk) stops the run with one line
    naming the file; the resume from the checkpoint before it writes that evaluation's row once."""
    flags = TOY + ["--iters", "4", "--eval-every", "2", "--runs-dir", str(tmp_path), "--run-name", "r"]
    real_append = common.append_metrics_row

    def append_then_fail(path, row):
        if row["iteration"] == 4:
            with open(path, "a") as f:
                f.write("4,1.0,")  # part of the row on the disk
            raise OSError(5, "Input/output error", path)
        return real_append(path, row)
    monkeypatch.setattr(common, "append_metrics_row", append_then_fail)
    assert cli(wgangp.main, flags) == 2
    err = message_lines(capsys.readouterr().err)
    assert err == [f"error: {tmp_path / 'r' / 'metrics.csv'}: Input/output error"], err
    monkeypatch.undo()
    wgangp.main(["--resume", str(tmp_path / "r"), "--iters", "6"])
    assert [r["iteration"] for r in common.read_metrics_rows(tmp_path / "r" / "metrics.csv")] == ["2", "4", "6"]


def test_the_real_append_reports_a_failed_write_naming_the_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    common.write_metrics_rows(str(path), [{"iteration": 2, "seconds": 1.0}])

    def eio(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(OSError) as error:
        common.append_metrics_row(str(path), {"iteration": 4, "seconds": 2.0})
    assert error.value.filename == str(path)


def test_eval_samples_too_few_for_an_image_score_is_one_line(tmp_path):
    assert_one_error_line(run_script("wgangp.py", "--dataset", "digits", "--eval-samples", "1", "--runs-dir",
                                     str(tmp_path)), "--eval-samples 1")


def test_flags_that_would_do_nothing_or_extrapolate_are_one_line(tmp_path):
    import advas
    import fogan_text
    runs = ["--runs-dir", str(tmp_path / "runs")]
    for main, argv, message in (
            (advas.main, ["--no-advas", "--no-advas-gp"], "with --no-advas there is none"),
            (advas.main, ["--no-advas", "--advas-lambda", "0.5"], "with --no-advas there is none"),
            (wgangp.main, ["--fixed-generator", "--lr-generator", "1e-3"], "trains no generator"),
            (fogan_text.main, ["--max-alpha", "2"], "--max-alpha 2.0: at most 1"),
            (wgangp.main, ["--mode", "wgan", "--clip", "1e9"], "a bound in (0, 1)"),
            (wgangp.main, ["--iters", str(10 ** 12)], "at most 1,000,000,000 iterations")):
        with pytest.raises(common.UserError, match=re.escape(message)):
            main(argv + runs)
    run_dir = wgangp.main(TOY + ["--iters", "2"] + runs)
    with pytest.raises(common.UserError, match="at most 1,000,000,000 iterations"):
        wgangp.main(["--resume", run_dir, "--iters", str(10 ** 12)])
    assert json.load(open(os.path.join(run_dir, "args.json")))["iters"] == 2
