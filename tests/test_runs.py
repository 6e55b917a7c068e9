"""The run folder: TensorBoard and metrics.csv, args.json, exact resume, checkpoints that survive a kill, stop
signals, locks."""
import contextlib
import csv
import glob
import io
import json
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import torch

import advas
import common
import dragan
import fogan_celeba
import fogan_text
import slogan
import wgangp
from helpers import ROOT, TOY, cli, final_state

pytestmark = pytest.mark.slow  # not in the fast lane: python -m pytest -m "not slow"


TINY = ["--iters", "4", "--eval-every", "2", "--batch-size", "8", "--log-every", "1"]


COMMON_TAGS = {"train/critic_loss", "train/generator_loss", "train/w_distance", "train/critic_grad_norm",
               "train/generator_grad_norm", "train/iterations_per_second"}


RUNS = [  # script, its flags, its own loss terms, an evaluation metric, the samples' file
    (wgangp, ["--dataset", "swissroll", "--width", "8", "--eval-samples", "32"], {"penalty"}, "w1", "toy_*.png"),
    (dragan, ["--dataset", "swissroll", "--width", "8", "--eval-samples", "32"], {"penalty", "adversarial"}, "w1",
     "toy_*.png"),
    (slogan, ["--dataset", "swissroll", "--width", "8", "--eval-samples", "32"], {"penalty"}, "w1", "toy_*.png"),
    (advas, ["--dataset", "swissroll", "--width", "8", "--eval-samples", "32"], {"penalty", "r_tilde", "advas_lambda"},
     "w1", "toy_*.png"),
    (fogan_text, ["--width", "8", "--eval-samples", "32"], {"lipschitz", "first_order"},
     ("js4", "top_char_share", "distinct_lines"), "samples_*.txt"),
    (fogan_celeba, ["--width", "8", "--fid-weights", "none"], {"lipschitz", "first_order"}, None, "samples_*.png"),
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
    metrics = (metric,) if isinstance(metric, str) else metric or ()
    expected = COMMON_TAGS | {f"train/{t}" for t in terms} | {f"eval/{m}" for m in metrics}
    assert expected <= tags, expected - tags
    assert [e.step for e in events.Scalars("train/critic_loss")] == [1, 2, 3, 4]  # every --log-every 1
    assert [e.step for e in events.Scalars("train/iterations_per_second")] == [1, 2, 3, 4]
    assert glob.glob(os.path.join(run_dir, samples))  # the evaluation's samples, beside the metrics
    # metrics.csv: the loss terms beside the metrics, every number to at most 6 significant digits
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["iteration"] for r in rows] == ["2", "4"]
    assert {"critic_loss", "generator_loss", "w_distance", "critic_grad_norm", *terms, *metrics} <= set(rows[0])
    critic_loss = [e.value for e in events.Scalars("train/critic_loss") if e.step == 4][0]
    assert float(rows[-1]["critic_loss"]) == pytest.approx(critic_loss, rel=1e-5)
    for name, value in rows[-1].items():
        if name not in ("iteration", "seconds") and value not in ("", "nan"):
            digits = value.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
            assert len(digits) <= 6, (name, value)


def test_a_resume_keeps_the_tensorboard_points_at_its_step(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "20", "--eval-every", "10", "--runs-dir", str(tmp_path)])
    wgangp.main(["--resume", run_dir, "--iters", "40"])
    assert [e.step for e in tensorboard_tags(run_dir).Scalars("eval/w1")] == [10, 20, 30, 40]


def test_metrics_csv_grows_a_column_and_drops_torn_lines(tmp_path):
    path = str(tmp_path / "metrics.csv")
    common.write_metrics_rows(path, [{"iteration": 2, "seconds": 1.0, "w1": 0.5}])  # a stop's row: no fid
    with open(path, "a") as f:
        f.write("3,2.0,0.")  # a torn last line
    common.write_metrics_rows(path, common.read_metrics_rows(path) + [{"iteration": 4, "seconds": 2, "w1": 0.4,
                                                                         "fid": 12.5}])
    with open(path) as f:
        assert f.read().splitlines() == ["iteration,seconds,w1,fid", "2,1.0,0.5,", "4,2,0.4,12.5"]


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
    assert unset <= {"data_root", "fid_weights", "fid_stats", "resume", "image_size", "clip", "train_size"}, unset  # none apply
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


def assert_same_weights(a, b):
    for name in ("generator", "critic"):
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key} differs"


@pytest.mark.parametrize("module,flags", [
    (wgangp, ["--dataset", "25gaussians", "--width", "16", "--batch-size", "16", "--eval-samples", "50"]),
    (wgangp, ["--dataset", "swissroll", "--mode", "wgan", "--width", "16", "--batch-size", "16", "--eval-samples", "50"]),
    (wgangp, ["--dataset", "8gaussians", "--mode", "wgan", "--fixed-generator", "--depth", "4", "--width", "16",
              "--batch-size", "16", "--eval-samples", "50"]),
    (slogan, ["--dataset", "digits", "--width", "8", "--batch-size", "8", "--n-critic", "2", "--fid-weights", "none"]),
    (fogan_text, ["--width", "8", "--batch-size", "8", "--eval-samples", "32"]),
    (wgangp, ["--dataset", "text", "--width", "8", "--batch-size", "8", "--eval-samples", "32"]),  # arch: null
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
    args = common.parse_args(wgangp.Args, ["--dataset", "8gaussians", "--runs-dir", str(tmp_path), "--run-name", "r"],
                             wgangp.DEFAULTS)
    run = common.Run("wgangp", args)
    net = torch.nn.Linear(2, 2)
    run.start(generator=net)
    run.save(5, generator=net)

    def dies_midway(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the process is killed while writing

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        run.save(10, generator=net)
    monkeypatch.undo()
    run.release()
    assert final_state(run.dir)["step"] == 5


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


def test_resume_trains_to_the_runs_own_iters_and_refuses_other_flags(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "4", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    wgangp.main(["--resume", run_dir])  # no --iters: the run's own 4, not the toy default 800
    assert torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)["step"] == 4
    with pytest.raises(common.UserError, match="not --lam, --n-critic"):
        wgangp.main(["--resume", run_dir, "--lam", "5", "--n-critic", "2"])
    with pytest.raises(common.UserError, match="no checkpoint.pt there"):
        wgangp.main(["--resume", str(tmp_path)])


def test_a_kill_while_resume_trims_metrics_leaves_them_whole(tmp_path, monkeypatch):
    run_dir = wgangp.main(TOY + ["--iters", "4", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    with open(os.path.join(run_dir, "metrics.csv"), "a") as f:
        f.write("6,1.0,0.1,3,0.5,0.2\n")  # a row past the checkpoint: resume trims it
    before = open(os.path.join(run_dir, "metrics.csv")).read()

    def killed(src, dst):
        raise KeyboardInterrupt  # the process dies between writing the temp file and the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        wgangp.main(["--resume", run_dir, "--iters", "6"])
    monkeypatch.undo()
    assert open(os.path.join(run_dir, "metrics.csv")).read() == before
    assert not [f for f in os.listdir(run_dir) if ".tmp" in f]


def test_two_runs_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    import datetime as real

    class Frozen(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return real.datetime(2026, 1, 1, 12, 0, 0)

    monkeypatch.setattr(common.datetime, "datetime", Frozen)
    flags = TOY + ["--iters", "2", "--runs-dir", str(tmp_path)]
    first, second = wgangp.main(flags), wgangp.main(flags)
    assert first != second and os.path.basename(second) == os.path.basename(first) + "-2"


def test_a_second_process_on_a_run_folder_is_refused_naming_the_holder(tmp_path):
    import fcntl
    run_dir = wgangp.main(TOY + ["--iters", "2", "--runs-dir", str(tmp_path)])
    with open(os.path.join(run_dir, ".lock"), "a+") as other:  # another process's lock on the folder
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        other.seek(0)
        other.truncate()
        other.write("process 4242 on otherhost since 2026-01-01 12:00:00\n")
        other.flush()
        with pytest.raises(common.UserError, match="in use by process 4242 on otherhost"):
            wgangp.main(["--resume", run_dir, "--iters", "4"])
    wgangp.main(["--resume", run_dir, "--iters", "4"])  # free again
    assert torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)["step"] == 4


def test_the_run_lock_is_exclusive_even_against_a_reader(tmp_path, monkeypatch):
    """While a run trains, no other process may take even a shared lock on RUN/.lock."""
    import fcntl
    taken = []

    def rival(*a, **k):  # at the first evaluation, the run holds its lock: try a shared one from another file
        with open(os.path.join(common.Run.current.dir, ".lock")) as other:
            try:
                fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)
                taken.append(True)
            except BlockingIOError:
                taken.append(False)
        return {}
    run_dir = wgangp.main(TOY + ["--iters", "2", "--runs-dir", str(tmp_path)])
    monkeypatch.setattr(common.Evaluator, "__call__", rival)
    wgangp.main(["--resume", run_dir, "--iters", "4"])
    assert taken == [False]


def test_a_resume_evaluates_a_checkpoint_whose_row_exists_only_once(tmp_path, monkeypatch):
    run_dir = wgangp.main(TOY + ["--iters", "4", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    steps, call = [], common.Evaluator.__call__
    monkeypatch.setattr(common.Evaluator, "__call__", lambda self, step, quick=False: steps.append(step) or
                        call(self, step, quick))
    wgangp.main(["--resume", run_dir, "--iters", "6"])
    assert steps == [6]  # the row of iteration 4 is there: not evaluated again


def test_a_stop_skips_fid_and_the_checkpoint_comes_first(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(common, "fid_statistics", lambda net, batches: calls.append("fid") or (np.zeros(2), np.eye(2)))
    data = common.make_data("digits", None, 8, torch.device("cpu"), 0, 32)
    generator, critic, z_dim = common.make_nets(data, width=4)
    evaluate = common.Evaluator(data, types.SimpleNamespace(dir=str(tmp_path)), generator, critic, z_dim,
                                torch.device("cpu"), 16, fid_weights="none")
    evaluate.fid_net, evaluate.real_stats = object(), (np.zeros(2), np.eye(2))
    assert "fid" in evaluate(1) and calls == ["fid"]
    assert "fid" not in evaluate(2, quick=True) and calls == ["fid"]
    order = []
    monkeypatch.setattr(common.Run, "save", lambda self, step, **state: order.append("save"))
    monkeypatch.setattr(common.Run, "log_metrics", lambda self, step, metrics: order.append("metrics"))
    wgangp.main(TOY + ["--iters", "1", "--runs-dir", str(tmp_path)])
    assert order == ["save", "metrics"]


def test_sigterm_saves_and_exits_143(tmp_path):
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "wgangp.py"), *TOY, "--iters", "1000000",
                                "--eval-every", "1000000", "--runs-dir", str(tmp_path), "--run-name", "r"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "r" / "args.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["step"] > 0


def test_a_nan_is_caught_at_the_next_log_without_a_read_per_step_and_never_reaches_a_checkpoint(tmp_path,
                                                                                                monkeypatch):
    """The loss terms are read from the device only at logged iterations (every --log-every) and before a
    checkpoint; a NaN at iteration 13 stops the run at the log of iteration 15, and the checkpoint of 10 stays."""
    reads, real_scalars = [], common.train_scalars

    def counted(terms, generator, critic):
        reads.append(1)
        return real_scalars(terms, generator, critic)
    monkeypatch.setattr(common, "train_scalars", counted)
    penalty, calls = wgangp.gradient_penalty, []

    def poisoned(*a, **k):
        calls.append(1)
        return penalty(*a, **k) * (float("nan") if len(calls) == 13 else 1.0)
    monkeypatch.setattr(wgangp, "gradient_penalty", poisoned)
    flags = [*TOY, "--n-critic", "1", "--iters", "40", "--eval-every", "10", "--log-every", "5",
             "--runs-dir", str(tmp_path), "--run-name", "nan"]
    with pytest.raises(common.UserError, match=r"non-finite critic_loss, w_distance, penalty, generator_loss at iteration 15;"):
        wgangp.main(flags)
    assert len(reads) <= 3 + 2  # logs at 5, 10, 15, the checkpoint at 10 and its row: not one per step
    assert final_state(tmp_path / "nan")["step"] == 10  # the last good checkpoint is kept


def killed_at_write(n, argv):
    """Run wgangp.main(argv) in a forked process that dies (os._exit, as abruptly as kill -9: no clean-up, no
    flush) just before its nth write: args.json, metrics.csv, checkpoint, samples (common.write_atomically) or a
    TensorBoard flush. Returns True if it died, False if the run had fewer than n writes."""
    pid = os.fork()
    if pid == 0:  # the child
        from torch.utils.tensorboard import SummaryWriter
        count = [0]

        def counted(write):
            def wrapper(*args, **kwargs):
                count[0] += 1
                if count[0] == n:
                    os._exit(137)
                return write(*args, **kwargs)
            return wrapper
        common.write_atomically, SummaryWriter.flush = counted(common.write_atomically), counted(SummaryWriter.flush)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                wgangp.main(argv)
        finally:
            os._exit(0)
    return os.waitpid(pid, 0)[1] != 0


def run_outcome(run_dir):
    """What a run leaves that must not depend on kills: metrics.csv without the clock, TensorBoard scalars, weights."""
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in common.read_metrics_rows(
        os.path.join(run_dir, "metrics.csv"))]
    events = tensorboard_tags(str(run_dir))
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
               if tag != "train/iterations_per_second"}
    state = final_state(run_dir)
    return rows, scalars, {k: state[k] for k in ("generator", "critic", "opt_generator", "opt_critic", "step")}


def test_a_kill_at_every_write_then_a_resume_gives_the_run_never_killed(tmp_path):
    flags = TOY + ["--iters", "4", "--eval-every", "2", "--log-every", "1", "--cache-dir", str(tmp_path / "cache")]
    expected = run_outcome(wgangp.main(flags + ["--runs-dir", str(tmp_path / "reference")]))
    kills = 0
    for n in range(1, 40):
        runs, argv = tmp_path / f"kill{n}", flags + ["--runs-dir", str(tmp_path / f"kill{n}"), "--run-name", "r"]
        if not killed_at_write(n, argv):  # fewer than n writes in a whole run: every write point has been tried
            break
        kills += 1
        time.sleep(1.01 - time.time() % 1)  # TensorBoard orders event files by their second: the resume's comes later
        with contextlib.redirect_stdout(io.StringIO()):
            if (runs / "r" / "checkpoint.pt").exists():
                wgangp.main(["--resume", str(runs / "r")])
            else:  # killed before its first checkpoint: nothing to resume, the same command again
                wgangp.main(argv)
        rows, scalars, state = run_outcome(runs / "r")
        assert rows == expected[0], (n, rows, expected[0])
        assert scalars == expected[1], n
        got, want = flat(state), flat(expected[2])
        assert len(got) == len(want) and all(torch.equal(a, b) if torch.is_tensor(a) else a == b
                                             for a, b in zip(got, want)), n
        assert not [f for f in os.listdir(runs / "r") if ".tmp" in f], n
    assert kills >= 10  # every write of the run: args.json, TensorBoard flushes, checkpoints, samples, rows


def flat(state):
    if isinstance(state, dict):
        return [t for k in sorted(state, key=str) for t in flat(state[k])]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in flat(v)]
    return [state]  # a tensor, or a plain value (Adam's settings)


def test_a_stop_before_the_run_starts_leaves_no_folder(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the data loads
    monkeypatch.setattr(common, "make_data", interrupted)
    assert cli(wgangp.main, TOY + ["--runs-dir", str(tmp_path / "runs"), "--run-name", "r"]) == 130
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("kind", ["images", "text"])
def test_resume_is_bit_identical_across_epoch_boundaries_after_the_checkpoint(tmp_path, kind):
    """24 items in batches of 8: an epoch every 3 draws, so the 10 iterations after the resume cross several
    epochs, each reshuffled by the data stream's own generator (which the checkpoint must restore)."""
    if kind == "images":
        from PIL import Image
        (tmp_path / "faces").mkdir()
        for i in range(24):
            Image.fromarray(np.random.RandomState(i).randint(0, 255, (40, 40, 3), dtype=np.uint8)).save(
                tmp_path / "faces" / f"{i}.png")
        flags = ["--dataset", "folder", "--data-root", str(tmp_path / "faces"), "--image-size", "32", "--width", "4",
                 "--fid-weights", "none", "--eval-samples", "16"]
    else:
        from helpers import write_billion_word
        write_billion_word(tmp_path / "bw", [f"line {i} of a few words" for i in range(24)], heldout=["held out"] * 4)
        flags = ["--dataset", "text", "--data-root", str(tmp_path / "bw"), "--width", "8", "--eval-samples", "16"]
    flags += ["--batch-size", "8", "--n-critic", "1", "--eval-every", "10", "--runs-dir", str(tmp_path / "runs")]
    straight = wgangp.main(flags + ["--iters", "20", "--run-name", "straight"])
    halves = wgangp.main(flags + ["--iters", "10", "--run-name", "halves"])
    wgangp.main(["--resume", halves, "--iters", "20"])
    assert_same_weights(final_state(straight), final_state(halves))


def test_a_resume_keeps_rows_behind_a_byte_order_mark(tmp_path, capsys):
    flags = TOY + ["--iters", "4", "--eval-every", "2", "--runs-dir", str(tmp_path)]
    run_dir = wgangp.main(flags + ["--run-name", "bom"])
    metrics = os.path.join(run_dir, "metrics.csv")
    text = open(metrics, encoding="utf-8").read()
    open(metrics, "w", encoding="utf-8", newline="").write("\ufeff" + text)  # a spreadsheet's "CSV UTF-8" save
    wgangp.main(["--resume", run_dir, "--iters", "6"])
    assert [r["iteration"] for r in common.read_metrics_rows(metrics)] == ["2", "4", "6"]


def test_a_new_row_is_appended_not_the_file_rewritten(tmp_path, monkeypatch):
    rewrites = []
    write = common.write_metrics_rows
    monkeypatch.setattr(common, "write_metrics_rows", lambda path, rows: rewrites.append(len(rows)) or write(path, rows))
    run_dir = wgangp.main(TOY + ["--iters", "6", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    assert rewrites == [1]  # the first row makes the file; the next two are appended
    assert [r["iteration"] for r in common.read_metrics_rows(os.path.join(run_dir, "metrics.csv"))] == ["2", "4", "6"]
