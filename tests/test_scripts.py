"""Every script through main(): smoke runs on every data kind, a short learning test per method, the CPU demos' settings, threads, bf16."""
import csv
import math
import os

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

pytestmark = pytest.mark.slow  # not in the fast lane: python -m pytest -m "not slow"


@pytest.mark.parametrize("module,flags", [
    (wgangp, ["--dataset", "digits", "--width", "8"]),
    (fogan_text, ["--width", "16"]),
    (fogan_celeba, ["--width", "8"]),
    (slogan, ["--dataset", "swissroll", "--width", "16"]),
    (dragan, ["--dataset", "swissroll", "--width", "16"]),
    (advas, ["--dataset", "swissroll", "--width", "16"]),
])
def test_amp_bf16_smoke(tmp_path, module, flags):
    run_dir = module.main([*flags, "--amp", "bf16", "--eval-samples", "32", "--runs-dir", str(tmp_path), *TINY]
                          + ([] if module is fogan_text else ["--fid-weights", "none"]))
    row = metrics(run_dir)[-1]
    assert row["iteration"] == "2"
    assert all(math.isfinite(float(v)) for k, v in row.items() if v not in ("", None))


def test_advas_odd_batch_is_a_clear_error(tmp_path):
    with pytest.raises(common.UserError, match="must be even"):
        advas.main(["--batch-size", "5", "--iters", "1", "--runs-dir", str(tmp_path)])


def test_no_advas_is_exactly_wgangp(tmp_path):
    flags = ["--dataset", "8gaussians", "--iters", "3", "--width", "16", "--batch-size", "16", "--eval-every", "3",
             "--eval-samples", "50", "--n-critic", "2", "--runs-dir", str(tmp_path)]
    plain = torch.load(os.path.join(wgangp.main(flags + ["--run-name", "w"]), "checkpoint.pt"), weights_only=False)
    assisted = torch.load(os.path.join(advas.main(flags + ["--run-name", "a", "--no-advas"]), "checkpoint.pt"),
                          weights_only=False)
    with_advas = torch.load(os.path.join(advas.main(flags + ["--run-name", "b"]), "checkpoint.pt"), weights_only=False)
    for name in ("generator", "critic"):
        for key, value in plain[name].items():
            assert torch.equal(value, assisted[name][key]), key
    assert not all(torch.equal(v, with_advas["generator"][k]) for k, v in plain["generator"].items())


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


TINY = ["--iters", "2", "--eval-every", "2", "--batch-size", "8"]


@pytest.mark.parametrize("module,extra", [
    (dragan, ["--perturb", "improved", "--loss", "wgan"]),
    (dragan, ["--perturb", "original"]),
    (slogan, ["--variant", "2", "--two-sided"]),
    (advas, ["--n-critic", "2"]),
])
@pytest.mark.parametrize("dataset", ["swissroll", "digits"])
def test_method_scripts_smoke(tmp_path, module, extra, dataset):
    run_dir = module.main(["--dataset", dataset, "--width", "8", "--eval-samples", "32", "--fid-weights", "none",
                           "--runs-dir", str(tmp_path), *TINY, *extra])
    rows = metrics(run_dir)
    assert rows and rows[-1]["iteration"] == "2" and math.isfinite(float(rows[-1]["w_distance"]))
    assert os.path.exists(os.path.join(run_dir, "checkpoint.pt"))


@pytest.mark.parametrize("module", [dragan, slogan, advas])
def test_method_scripts_smoke_text(tmp_path, module):
    write_billion_word(tmp_path / "bw", [f"some words and more words {i}" for i in range(40)])
    run_dir = module.main(["--dataset", "text", "--data-root", str(tmp_path / "bw"), "--width", "8",
                           "--runs-dir", str(tmp_path / "runs"), *TINY])
    assert "js4" in metrics(run_dir)[-1]


def test_fogan_text_smoke(tmp_path):
    run_dir = fogan_text.main(["--width", "16", "--runs-dir", str(tmp_path), "--eval-samples", "64", *TINY])
    row = metrics(run_dir)[-1]
    assert 0 <= float(row["js4"]) <= 1 and float(row["js4_bayes"]) < float(row["js4"])
    assert os.path.exists(os.path.join(run_dir, "samples_0000002.txt"))


def test_fogan_celeba_smoke(tmp_path, capsys):
    run_dir = fogan_celeba.main(["--width", "8", "--runs-dir", str(tmp_path), "--fid-weights", "none", *TINY])
    out = capsys.readouterr().out  # no CelebA: the digits miniature, and how to run the paper's setting
    assert "no --data-root" in out and "python fogan_celeba.py --data-root img_align_celeba" in out
    assert os.path.exists(os.path.join(run_dir, "samples_0000002.png"))
    row = metrics(run_dir)[-1]  # the embedded digits' own score at every evaluation, its floor beside it
    assert float(row["fd_digits"]) > float(row["fd_digits_floor"]) > 0 and 1 <= int(row["digit_classes"]) <= 10
    assert "held-out accuracy" in out
    images = tmp_path / "faces"
    images.mkdir()
    import numpy as np
    from PIL import Image
    for i in range(10):
        Image.fromarray(np.random.RandomState(i).randint(0, 255, (80, 60, 3), dtype=np.uint8)).save(images / f"{i}.jpg")
    run_dir = fogan_celeba.main(["--data-root", str(images), "--width", "8", "--runs-dir", str(tmp_path),
                                 "--fid-weights", "none", *TINY])
    assert "celeba" in os.path.basename(run_dir)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_wgangp_smoke_toy(tmp_path):
    run_dir = wgangp.main(["--dataset", "8gaussians", "--iters", "6", "--eval-every", "3", "--width", "32",
                           "--batch-size", "32", "--runs-dir", str(tmp_path), "--eval-samples", "200"])
    rows = read_csv(os.path.join(run_dir, "metrics.csv"))
    assert [r["iteration"] for r in rows] == ["3", "6"]
    assert {"seconds", "modes", "high_quality", "w1", "w_distance"} <= set(rows[0])
    assert os.path.exists(os.path.join(run_dir, "toy_0000006.png"))
    assert os.path.exists(os.path.join(run_dir, "checkpoint.pt"))
    assert os.path.exists(os.path.join(run_dir, "args.json"))


def test_wgangp_smoke_images(tmp_path):
    run_dir = wgangp.main(["--dataset", "digits", "--iters", "2", "--eval-every", "2", "--width", "8",
                           "--batch-size", "8", "--n-critic", "2", "--runs-dir", str(tmp_path),
                           "--eval-samples", "16", "--fid-weights", "none"])
    assert os.path.exists(os.path.join(run_dir, "samples_0000002.png"))
    run_dir = wgangp.main(["--dataset", "digits", "--image-size", "32", "--critic-norm", "layer", "--iters", "1",
                           "--width", "8", "--batch-size", "8", "--runs-dir", str(tmp_path),
                           "--eval-samples", "16", "--fid-weights", "none"])
    assert os.path.exists(os.path.join(run_dir, "samples_0000001.png"))


def test_wgangp_smoke_text(tmp_path):
    write_billion_word(tmp_path / "bw", [f"the quick brown fox {i} jumps" for i in range(64)],
                       heldout=["the lazy dog sleeps"] * 8)
    run_dir = wgangp.main(["--dataset", "text", "--data-root", str(tmp_path / "bw"), "--iters", "2",
                           "--eval-every", "1", "--width", "16", "--batch-size", "8", "--runs-dir",
                           str(tmp_path / "runs"), "--eval-samples", "32"])
    rows = read_csv(os.path.join(run_dir, "metrics.csv"))
    assert len(rows) == 2 and 0 <= float(rows[-1]["js4"]) <= 1 and "js6_bayes" in rows[0]
    assert len(open(os.path.join(run_dir, "samples_0000002.txt")).read().splitlines()) == 32


def test_embedded_data_gets_the_miniature_and_data_root_the_paper(tmp_path, capsys):
    mini = common.parse_args(fogan_text.Args, [], fogan_text.DEFAULTS, about=fogan_text.__doc__)
    assert (mini.width, mini.eval_samples) == (64, 640) and mini.iters < 10_000
    notes = common.start_notes(mini, fogan_text.PAPER)
    assert "python fogan_text.py --data-root" in " ".join(notes)  # the one line on the paper's setting
    assert capsys.readouterr().out == ""  # printed when the run starts, after every check
    write_billion_word(tmp_path / "bw", ["a line of words"] * 4)
    paper = common.parse_args(fogan_text.Args, ["--iters", "100000", "--data-root", str(tmp_path / "bw")],
                              fogan_text.DEFAULTS)
    assert (paper.width, paper.iters, paper.generator_batch_norm, paper.eval_every) == (512, 100_000, True, 2000)
    celeba = common.parse_args(fogan_celeba.Args, [], fogan_celeba.DEFAULTS)
    assert (celeba.dataset, celeba.image_size, celeba.width) == ("digits", 28, 32)
    with pytest.raises(common.UserError, match="needs its data"):
        fogan_celeba.main(["--dataset", "celeba", "--runs-dir", str(tmp_path)])  # asked for CelebA: no silent swap
    for module in (wgangp, dragan, slogan, advas):
        out = " ".join(common.start_notes(common.parse_args(module.Args, [], module.DEFAULTS), module.PAPER))
        # the one line on the paper's setting names the paper's data, not text
        assert f"python {module.__name__}.py --dataset" in out and "--dataset text" not in out
        text = common.parse_args(module.Args, ["--dataset", "text"], module.DEFAULTS)
        assert text.width == 64 and text.iters < 10_000


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


# ---- WGAN with weight clipping (--mode wgan) and gan_toy.py's fixed generator, through wgangp.main ------------

CLIP_TOY = ["--dataset", "8gaussians", "--iters", "4", "--eval-every", "4", "--width", "16", "--batch-size", "16",
            "--eval-samples", "50"]


def test_wgan_mode_clips_every_critic_weight_after_its_step_and_trains_with_rmsprop_5e_5(tmp_path):
    run_dir = wgangp.main(["--mode", "wgan", *CLIP_TOY, "--runs-dir", str(tmp_path)])
    state = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    weights = torch.cat([v.flatten() for v in state["critic"].values()])
    bound = torch.tensor(0.01)  # float32, as the weights
    assert (weights.abs() <= bound).all() and (weights.abs() == bound).any()  # clipped after the last step
    for name in ("opt_critic", "opt_generator"):  # gan_toy.py: tf.train.RMSPropOptimizer(5e-5) for both nets
        group = state[name]["param_groups"][0]
        assert (group["lr"], group["alpha"], group["eps"]) == (5e-5, 0.9, 1e-10) and "betas" not in group
    row = read_csv(os.path.join(run_dir, "metrics.csv"))[-1]
    assert "penalty" not in row and 0 < float(row["clipped_share"]) <= 1
    assert float(row["critic_loss"]) == -float(row["w_distance"])
    # flags still win: another bound, Adam at another rate
    run_dir = wgangp.main(["--mode", "wgan", "--clip", "0.05", "--optimizer", "adam", "--lr-critic", "1e-3",
                           *CLIP_TOY, "--runs-dir", str(tmp_path)])
    state = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    weights = torch.cat([v.flatten() for v in state["critic"].values()])
    assert (weights.abs() <= torch.tensor(0.05)).all() and (weights.abs() == torch.tensor(0.05)).any()
    assert state["opt_critic"]["param_groups"][0]["lr"] == 1e-3 and "betas" in state["opt_critic"]["param_groups"][0]


def test_fixed_generator_trains_the_critic_alone_against_real_plus_unit_noise(tmp_path, monkeypatch):
    seen = []
    loss = wgangp.clipped_critic_loss

    def recording(critic, real, fake):
        seen.append((fake, real))
        return loss(critic, real, fake)
    monkeypatch.setattr(wgangp, "clipped_critic_loss", recording)
    run_dir = wgangp.main(["--mode", "wgan", "--fixed-generator", *CLIP_TOY, "--batch-size", "256",
                           "--runs-dir", str(tmp_path)])
    fake, real = map(torch.cat, zip(*seen))  # G(z) = other real points of the stream + N(0, 1)
    assert len(seen) == 4 * 5 and not torch.equal(fake - real, fake - fake.mean())  # not this step's real batch
    assert torch.allclose(fake.mean(0), real.mean(0), atol=0.08)
    assert torch.allclose(fake.var(0), real.var(0) + 1, atol=0.12)
    state = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert state["generator"] == {} and "opt_generator" not in state  # no generator to train
    assert "generator_loss" not in read_csv(os.path.join(run_dir, "metrics.csv"))[-1]
    # the evaluation's "samples": real points + N(0, 1): the real mean, the real variance + 1
    data = common.make_data("8gaussians", None, 16, torch.device("cpu"), 0)
    samples = common.generate(common.RealPlusNoise(data), 2, 20_000, torch.device("cpu"))
    real = torch.as_tensor(data.real_sample(20_000), dtype=torch.float32)
    assert torch.allclose(samples.mean(0), real.mean(0), atol=0.03)
    assert torch.allclose(samples.var(0), real.var(0) + 1, atol=0.05)


def test_wgan_mode_refuses_settings_it_would_ignore(tmp_path):
    for flags, message in ((["--mode", "wgan", "--lam", "10"], "no penalty"), (["--clip", "0.1"], "--mode wgan"),
                           (["--mode", "wgan", "--clip", "-1"], "--clip"),
                           (["--mode", "wgan", "--clip", "0"], "a bound in"),
                           (["--mode", "wgan", "--clip", "1e9"], "a bound in"),
                           (["--fixed-generator", "--dataset", "digits"], "2D toys"),
                           (["--depth", "12", "--dataset", "digits"], "2D toys")):
        with pytest.raises(common.UserError, match=message):
            wgangp.main([*flags, "--runs-dir", str(tmp_path)])


def test_the_start_notes_fit_the_data_kind_and_the_papers_experiments():
    text = {m: " ".join(common.start_notes(common.parse_args(m.Args, ["--dataset", "text"], m.DEFAULTS), m.PAPER,
                                           getattr(m, "DEMO_NOTE", None))) for m in (dragan, advas, slogan)}
    assert "WGAN-DRA" not in text[dragan] and "critic steps" not in text[advas]  # the toy demos' notes
    assert "the paper has no text experiment" in text[slogan] and "Billion" not in text[slogan]
    toy = " ".join(common.start_notes(common.parse_args(dragan.Args, [], dragan.DEFAULTS), dragan.PAPER,
                                      dragan.DEMO_NOTE))
    assert "WGAN-DRA" in toy


def test_the_notebook_examples_are_the_notebooks_setting():
    """The Lernapparat notebook runs the swiss roll, SLOGAN's variant 1 and DRAGAN's original perturbation."""
    for module, expected in ((wgangp, "--schedule blog"), (slogan, "--variant 1"), (dragan, "--perturb original")):
        lines = [line for line in module.__doc__.splitlines() if "notebook's setting" in line]
        assert lines and all("--dataset swissroll" in line and expected in line for line in lines), lines
