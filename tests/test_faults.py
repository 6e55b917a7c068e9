"""Fault injection, each case reproduced: resume with other flags, crashed writes, damaged or crafted files,
non-finite weights, disk and device trouble, two processes on one run folder, slow stops and bad data."""
import json
import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

import common
import fogan_celeba
import wgangp
from helpers import write_billion_word

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = ["--dataset", "8gaussians", "--width", "8", "--batch-size", "8", "--eval-samples", "20"]


def run_script(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, os.path.join(ROOT, argv[0]), *argv[1:]], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def one_error_line(result, message):
    lines = [line for line in result.stderr.splitlines() if line.strip() and "it/s" not in line and "%|" not in line]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr


def cli(main, argv):
    """common.run_cli in-process: (exit status, stderr lines)."""
    with pytest.raises(SystemExit) as exit_:
        common.run_cli(lambda: main(argv))
    return exit_.value.code


# ---- 1. resume: the run's own settings ----------------------------------------------------------------------


def test_resume_trains_to_the_runs_own_iters_and_refuses_other_flags(tmp_path):
    run_dir = wgangp.main(TOY + ["--iters", "4", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    wgangp.main(["--resume", run_dir])  # no --iters: the run's own 4, not the toy default 800
    assert torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)["step"] == 4
    with pytest.raises(common.UserError, match="not --lam, --n-critic"):
        wgangp.main(["--resume", run_dir, "--lam", "5", "--n-critic", "2"])
    with pytest.raises(common.UserError, match="needs a run folder"):
        wgangp.main(["--resume", ""])


# ---- 2. history: metrics.csv rewritten whole or not at all ----------------------------------------------------


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


# ---- 3. the decoded-image cache ------------------------------------------------------------------------------


def write_images(folder, value, n=4):
    from PIL import Image
    folder.mkdir(exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(folder / f"{i}.png")


def test_image_cache_is_keyed_by_content_atomic_and_outside_the_data(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    write_images(data, 10)
    cache.mkdir()
    first = common.load_images("folder", str(data), 8, str(cache))
    assert int(first.float().mean()) == 10 and sorted(os.listdir(data)) == ["0.png", "1.png", "2.png", "3.png"]
    write_images(data, 200)  # the same file names, new pixels (and a new mtime / size)
    os.utime(data / "0.png", ns=(1, 1))
    assert int(common.load_images("folder", str(data), 8, str(cache)).float().mean()) == 200
    for f in cache.iterdir():  # a cache file left at 0 bytes by a kill: ignored, decoded again
        f.write_bytes(b"")
    assert int(common.load_images("folder", str(data), 8, str(cache)).float().mean()) == 200


# ---- 4. a crafted checkpoint never runs code -----------------------------------------------------------------


class Payload:
    def __reduce__(self):
        return os.system, (f"touch {MARKER}",)


MARKER = ""


def test_crafted_checkpoint_is_refused_without_running_it(tmp_path):
    global MARKER
    run_dir = wgangp.main(TOY + ["--iters", "2", "--eval-every", "2", "--runs-dir", str(tmp_path)])
    MARKER = str(tmp_path / "pwned")
    with open(os.path.join(run_dir, "checkpoint.pt"), "wb") as f:
        pickle.dump({"script": "wgangp", "x": Payload()}, f)
    with pytest.raises(common.UserError, match="cannot be read"):
        wgangp.main(["--resume", run_dir, "--iters", "4"])
    assert not os.path.exists(MARKER)


# ---- 5. non-finite weights ------------------------------------------------------------------------------------


def test_an_overflowing_optimiser_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    result = run_script("wgangp.py", *TOY, "--lam", "1e30", "--iters", "4", "--eval-every", "1",
                        "--runs-dir", str(tmp_path), "--run-name", "big")
    one_error_line(result, "non-finite values in")
    one_error_line(run_script("wgangp.py", *TOY, "--lr-critic", "1e39", "--runs-dir", str(tmp_path)),
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


# ---- 6. one error line for disk and device trouble and bad flags ----------------------------------------------


def test_disk_and_device_trouble_gives_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    one_error_line(run_script("wgangp.py", *TOY, "--runs-dir", str(tmp_path / "afile")), "afile")
    one_error_line(run_script("wgangp.py", *TOY, "--seed", "-1"), "--seed must be in")
    one_error_line(run_script("wgangp.py", *TOY, "--device", "gpu"), "choose auto, cpu, cuda")
    one_error_line(run_script("wgangp.py", *TOY, "--device", "mps"), "choose auto, cpu, cuda")
    one_error_line(run_script("wgangp.py", *TOY, "--run-name", "../x", "--runs-dir", str(tmp_path)),
                   "plain folder name")
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(os.urandom(1000))
    one_error_line(run_script("fogan_celeba.py", "--width", "8", "--batch-size", "8", "--fid-weights", str(garbage),
                              "--runs-dir", str(tmp_path)), "not pytorch-fid's")
    corpus = tmp_path / "bw"
    write_billion_word(corpus, ["a line ."] * 10)
    (corpus / "training-monolingual.tokenized.shuffled" / "news.en-00003-of-00100").mkdir()
    one_error_line(run_script("fogan_text.py", "--data-root", str(corpus), "--runs-dir", str(tmp_path)),
                   "directory")


def test_a_full_disk_at_the_first_checkpoint_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    def disk_full(obj, path):
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(torch, "save", disk_full)
    code = cli(wgangp.main, TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "full"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and errors[0].startswith("error: No space left on device")
    assert not (tmp_path / "full").exists()  # nothing worth keeping: the same --run-name works again
    monkeypatch.undo()
    wgangp.main(TOY + ["--iters", "2", "--runs-dir", str(tmp_path), "--run-name", "full"])


def test_ctrl_c_during_start_up_exits_130_with_one_line(capsys):
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_:
        common.run_cli(interrupted)
    assert exit_.value.code == 130 and capsys.readouterr().err.startswith("error: interrupted")


# ---- 7. two processes, one run folder ---------------------------------------------------------------------------


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


# ---- 8. a stop signal: checkpoint first, no FID ----------------------------------------------------------------


def test_a_stop_skips_fid_and_the_checkpoint_comes_first(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(common, "fid_statistics", lambda net, batches: calls.append("fid") or (np.zeros(2), np.eye(2)))
    data = common.make_data("digits", None, 8, torch.device("cpu"), 0, 32)
    evaluate = common.Evaluator(data, str(tmp_path), 16, "none", torch.device("cpu"))
    evaluate.fid_net, evaluate.real_stats = object(), (np.zeros(2), np.eye(2))
    generator, critic, z_dim = common.make_nets(data, width=4)
    assert "fid" in evaluate(generator, critic, z_dim, 1) and calls == ["fid"]
    assert "fid" not in evaluate(generator, critic, z_dim, 2, quick=True) and calls == ["fid"]
    order = []
    monkeypatch.setattr(common.Run, "save", lambda self, step, **state: order.append("save"))
    monkeypatch.setattr(common.Run, "log_metrics", lambda self, step, metrics: order.append("metrics"))
    wgangp.main(TOY + ["--iters", "1", "--runs-dir", str(tmp_path)])
    assert order == ["save", "metrics"]


def test_sigterm_saves_and_exits_143(tmp_path):
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "wgangp.py"), *TOY, "--iters", "1000000",
                                "--eval-every", "1000000", "--runs-dir", str(tmp_path), "--run-name", "r"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time
    deadline = time.time() + 120
    while not (tmp_path / "r" / "args.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["step"] > 0


# ---- 9. bad data is caught or read right --------------------------------------------------------------------------


def test_sixteen_bit_pngs_are_scaled_not_clipped(tmp_path):
    from PIL import Image
    folder = tmp_path / "deep"
    folder.mkdir()
    Image.fromarray(np.full((16, 16), 32768, np.uint16)).save(folder / "a.png")  # mid-grey in 16 bits
    images = common.load_images("folder", str(folder), 8)
    assert abs(images.float().mean().item() - 127.5) < 1.0


def test_a_symlink_loop_lists_each_image_once(tmp_path):
    folder = tmp_path / "imgs"
    write_images(folder, 50, n=3)
    os.symlink(folder, folder / "loop")
    assert len(common.image_files(str(folder))) == 3


def test_a_binary_corpus_is_refused(tmp_path):
    corpus = tmp_path / "bw"
    train = corpus / "training-monolingual.tokenized.shuffled"
    train.mkdir(parents=True)
    (train / "news.en-00001-of-00100").write_bytes(np.random.RandomState(0).randint(0, 256, 20000, np.uint8).tobytes())
    with pytest.raises(common.UserError, match="does not look like UTF-8 text"):
        common.load_text(str(corpus))


# ---- 10. names and leftovers --------------------------------------------------------------------------------------


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
