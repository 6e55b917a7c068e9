"""Foundation: the WGAN-GP penalty, loaders on data the test writes, net shapes, wgangp.py end to end."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

import common
import wgangp
from helpers import linear_critic, write_billion_word

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- the penalty ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gradient_penalty_linear_critic_equals_closed_form(scale):
    torch.manual_seed(0)
    w = torch.randn(2)
    w = scale * w / w.norm()
    real, fake = torch.randn(64, 2), torch.randn(64, 2)
    lam = 10.0
    got = lam * wgangp.gradient_penalty(linear_critic(w), real, fake)
    assert got.item() == pytest.approx(lam * (scale - 1) ** 2, rel=1e-5, abs=1e-7)
    one_sided = lam * wgangp.gradient_penalty(linear_critic(w), real, fake, one_sided=True)
    assert one_sided.item() == pytest.approx(lam * max(scale - 1, 0) ** 2, rel=1e-5, abs=1e-7)
    if scale <= 1:
        assert one_sided.item() == 0.0


def test_gradient_penalty_norm_is_over_the_whole_sample():
    """On images the slope is ||w|| over all C*H*W entries. A per-pixel norm (over channels only, then
    averaged) gives a different number, so this test catches that port bug."""
    torch.manual_seed(1)
    w = torch.randn(3, 4, 4) * 0.2
    real, fake = torch.randn(16, 3, 4, 4), torch.randn(16, 3, 4, 4)
    got = wgangp.gradient_penalty(linear_critic(w), real, fake).item()
    assert got == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)
    per_pixel = ((w.norm(dim=0) - 1) ** 2).mean().item()
    assert abs(per_pixel - got) > 0.05


def test_gradient_penalty_backpropagates_into_the_critic():
    torch.manual_seed(2)
    critic = nn.Sequential(common.mlp(2, 1, width=16), nn.Flatten(0))
    penalty = wgangp.gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2))
    penalty.backward()
    weights = [p for p in critic.parameters() if p.dim() == 2]  # biases of the last layer do not move the slope
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


# ---- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", common.TOYS)
def test_toy_data(dataset):
    data = common.make_data(dataset, None, 512, torch.device("cpu"), seed=0)
    batch = data.next()
    assert batch.shape == (512, 2) and batch.dtype == torch.float32
    centres = common.toy_centres(dataset)
    if centres is not None:  # every point within 5 std of a centre
        distance = torch.cdist(batch.double(), torch.as_tensor(centres)).min(1).values
        assert distance.max().item() < 5 * common.TOY_STD[dataset]
    else:
        assert 0.5 < batch.abs().max().item() < 2.5


def test_toy_8gaussians_matches_reference_construction():
    """gan_toy.py: centres (+-1,0),(0,+-1),(+-1/sqrt2,+-1/sqrt2) * scale 2, noise 0.02, all divided by 1.414."""
    centres = common.toy_centres("8gaussians") * 1.414 / 2
    assert np.allclose(np.sort(np.linalg.norm(centres, axis=1)), 1.0)
    assert len(np.unique(np.round(centres, 6), axis=0)) == 8


def test_digits_images():
    data = common.make_data("digits", None, 32, torch.device("cpu"), seed=0)
    batch = data.next()
    assert batch.shape == (32, 1, 28, 28)
    assert batch.min().item() >= -1 and batch.max().item() <= 1 and batch.min().item() == -1


def test_image_folder_loader(tmp_path):
    from PIL import Image
    rng = np.random.RandomState(0)
    (tmp_path / "sub").mkdir()
    for i in range(6):
        Image.fromarray(rng.randint(0, 255, (90, 70, 3), dtype=np.uint8)).save(tmp_path / "sub" / f"{i}.jpg")
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(tmp_path / "white.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    images = common.load_images("folder", str(tmp_path), 64)
    assert images.shape == (7, 3, 64, 64) and images.dtype == torch.uint8
    cache = tmp_path.parent / (tmp_path.name + "_cache")
    data = common.make_data("celeba", str(tmp_path), 4, torch.device("cpu"), seed=0, image_size=32, cache=str(cache))
    batch = data.next()
    assert batch.shape == (4, 3, 32, 32) and -1 <= batch.min() and batch.max() <= 1
    assert list(cache.glob("images_32px_*.npy")) and not list(tmp_path.glob("*.npy"))  # cached, not in the data
    assert torch.equal(common.load_images("celeba", str(tmp_path), 32, str(cache)), data.items)


def test_image_loaders_fail_clearly(tmp_path):
    with pytest.raises(common.UserError, match="does not exist"):
        common.load_images("celeba", str(tmp_path / "missing"))
    with pytest.raises(common.UserError, match="no .jpg"):
        common.load_images("folder", str(tmp_path))
    with pytest.raises(common.UserError, match="needs its data"):
        common.load_images("mnist", None)
    with pytest.raises(common.UserError, match="cifar10 not found"):
        common.load_images("cifar10", str(tmp_path))
    with pytest.raises(common.UserError, match="larger than the dataset"):
        common.make_data("digits", None, 5000, torch.device("cpu"), seed=0)


def test_billion_word_loader(tmp_path):
    lines = ["The cat sat on the mat .", "A much longer line that goes on and on past thirty-two characters ."] * 5
    write_billion_word(tmp_path, lines + ["Ünïcode ☃ line"], heldout=["held out line ."])
    corpus = common.load_text(str(tmp_path), vocab_size=20)
    assert corpus["train"].shape == (11, 32) and corpus["vocab_size"] == 20
    assert corpus["chars"][0] == "unk"
    decoded = common.decode_text(corpus["train"][:2], corpus["chars"])
    assert decoded[0].startswith("The") and decoded[0].endswith("`")  # padded with '`'
    assert len(decoded[1]) == 32  # cut to 32
    assert "?" in common.decode_text(corpus["train"][10:], corpus["chars"])[0]  # rare chars -> unk
    assert corpus["heldout"].shape == (1, 32)
    data = common.make_data("text", str(tmp_path), 4, torch.device("cpu"), seed=0)
    batch = data.next()
    assert batch.shape == (4, data.vocab_size, 32) and torch.all(batch.sum(1) == 1)  # one-hot


def test_text_loader_max_lines_and_errors(tmp_path):
    write_billion_word(tmp_path / "bw", [f"line number {i}" for i in range(40)])
    corpus = common.load_text(str(tmp_path / "bw"), max_lines=25)  # no heldout shards: the last 10% held out
    assert corpus["train"].shape[0] + corpus["heldout"].shape[0] == 25 and corpus["heldout"].shape[0] == 2
    with pytest.raises(common.UserError, match="no One Billion Word shards"):
        common.load_text(str(tmp_path))
    with pytest.raises(common.UserError, match="does not exist"):
        common.load_text(str(tmp_path / "nope"))
    (tmp_path / "empty" / "training-monolingual.tokenized.shuffled").mkdir(parents=True)
    (tmp_path / "empty" / "training-monolingual.tokenized.shuffled" / "news.en-00001").write_text("\n  \n\n")
    with pytest.raises(common.UserError, match="no usable line"):
        common.load_text(str(tmp_path / "empty"))


def test_embedded_text_corpus():
    corpus = common.load_text(None)
    assert corpus["train"].shape[1] == 32 and len(corpus["train"]) > 5000 and len(corpus["heldout"]) > 2000
    assert corpus["vocab_size"] < 2048


def test_data_stream_state_round_trip():
    data = common.make_data("digits", None, 64, torch.device("cpu"), seed=3)
    for _ in range(30):  # crosses an epoch boundary (1797 images)
        data.next()
    state = data.state_dict()
    expected = [data.next() for _ in range(5)]
    other = common.make_data("digits", None, 64, torch.device("cpu"), seed=99)
    other.load_state_dict(state)
    assert all(torch.equal(a, other.next()) for a in expected)


# ---- nets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size,channels", [(64, 3), (32, 3), (32, 1)])
@pytest.mark.parametrize("norm", ["none", "layer", "batch"])
def test_dcgan_shapes(size, channels, norm):
    generator, critic = common.dcgan_generator(100, channels, size, 8), common.dcgan_critic(channels, size, 8, norm)
    images = generator(torch.randn(5, 100))
    assert images.shape == (5, channels, size, size)
    assert critic(images).shape == (5,)


def test_dcgan_init_and_no_critic_norm_by_default():
    critic = common.dcgan_critic(3, 64)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in critic.modules())
    assert abs(critic[0].weight.std().item() - 0.0176) < 0.003  # truncated normal 0.02 (see test_fidelity)


def test_mnist_and_text_and_mlp_shapes():
    assert common.mnist_generator(128, 8)(torch.randn(3, 128)).shape == (3, 1, 28, 28)
    assert common.mnist_critic(8)(torch.randn(3, 1, 28, 28)).shape == (3,)
    generator = common.text_generator(128, 50, width=16, batch_norm=True)
    out = generator(torch.randn(4, 128))
    assert out.shape == (4, 50, 32) and torch.allclose(out.sum(1), torch.ones(4, 32))
    assert sum(isinstance(m, common.OffsetBatchNorm) for m in generator.modules()) == 12  # noise, input, 2 per block
    assert common.text_critic(50, width=16)(out).shape == (4,)
    assert common.mlp(2, 2)(torch.randn(7, 2)).shape == (7, 2)
    assert sum(isinstance(m, nn.Linear) for m in common.mlp(2, 1)) == 4  # 3 hidden layers of 512 + output


def test_text_resblock_is_x_plus_0_3_res():
    block = common.ResBlock1d(8)
    x = torch.randn(2, 8, 32)
    assert torch.allclose(block(x), x + 0.3 * block.res(x))


# ---- wgangp.py end to end ------------------------------------------------------------------


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


def run_script(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


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
    result = run_script(os.path.join(ROOT, "wgangp.py"), *argv, "--runs-dir", str(tmp_path))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing half-made is left behind


def test_celeba_is_center_cropped_to_108_then_resized(tmp_path):
    """CelebA's aligned 178x218 images: the central 108x108 (the DCGAN/TTUR crop), resized to 64x64; any other
    folder keeps the largest centred square."""
    from PIL import Image
    picture = np.zeros((218, 178, 3), np.uint8)
    picture[55:163, 35:143] = 255  # the central 108x108 square is white
    Image.fromarray(picture).save(tmp_path / "000001.png")
    celeba = common.load_images("celeba", str(tmp_path), 64)
    assert celeba.shape == (1, 3, 64, 64) and celeba.min().item() == 255
    folder = common.load_images("folder", str(tmp_path), 64)
    assert folder.min().item() == 0


def test_mnist_loader_reads_torchvision_raw_files(tmp_path):
    """MNIST from ROOT/MNIST/raw/*-idx?-ubyte (what torchvision downloads), resized for the 28x28 nets."""
    import struct
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    pixels = np.random.RandomState(0).randint(0, 256, (10, 28, 28)).astype(np.uint8)
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, 10, 28, 28) + pixels.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, 10) + bytes(range(10)))
    images = common.load_images("mnist", str(tmp_path))
    assert images.shape == (10, 1, 28, 28) and torch.equal(images[:, 0], torch.from_numpy(pixels))
    assert common.load_images("mnist", str(tmp_path), 32).shape == (10, 1, 32, 32)


def test_cifar10_loader_reads_the_python_batches(tmp_path, monkeypatch):
    """CIFAR-10 from ROOT/cifar-10-batches-py (torchvision's format; its md5 check is bypassed for fake data)."""
    import pickle
    import torchvision.datasets.cifar
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.RandomState(1)
    batches = [rng.randint(0, 256, (4, 3072)).astype(np.uint8) for _ in range(5)]
    for i, data in enumerate(batches, 1):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps({"data": data, "labels": [0, 1, 2, 3]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    images = common.load_images("cifar10", str(tmp_path))
    assert images.shape == (20, 3, 32, 32)
    assert torch.equal(images[0], torch.from_numpy(batches[0][0].reshape(3, 32, 32)))  # channels kept in order
