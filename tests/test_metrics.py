"""Metrics against closed forms and plain counting: n-gram JSD, the text collapse scores, the Frechet distance,
pytorch-fid's network, the toy scores."""
import math
import os
import types

import numpy as np
import pytest
import torch

import common
from helpers import ngram_jsd


def project_jsd(samples, reference, n):
    """The project's NgramReference on equal-length lines of text (characters encoded by one shared map)."""
    chars = sorted(set("".join(samples + reference)))
    encode = lambda lines: torch.tensor([[chars.index(c) for c in line] for line in lines])
    return common.NgramReference(encode(reference), len(chars), max_n=n).jsd(encode(samples), n)


@pytest.mark.parametrize("jsd", [ngram_jsd, project_jsd], ids=["counting", "NgramReference"])
def test_jsd_identical_is_0_and_disjoint_is_1(jsd):
    lines = ["the cat sat", "on the mat!", "a dog ran.."]
    for n in range(1, 5):
        assert jsd(lines, lines, n) == pytest.approx(0.0, abs=1e-12)
        assert jsd(["aaaa", "abab"], ["xyzx", "zzzz"], n) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("jsd", [ngram_jsd, project_jsd], ids=["counting", "NgramReference"])
def test_jsd_hand_computed_example(jsd):
    # unigrams: samples "aab" -> p = {a: 2/3, b: 1/3}; reference "abc" -> q = {a: 1/3, b: 1/3, c: 1/3}
    # m = {a: 1/2, b: 1/3, c: 1/6}
    # KL(p||m) = 2/3 ln(4/3) + 1/3 ln 1;  KL(q||m) = 1/3 ln(2/3) + 1/3 ln 1 + 1/3 ln 2
    kl_p = 2 / 3 * math.log(4 / 3)
    kl_q = 1 / 3 * math.log(2 / 3) + 1 / 3 * math.log(2)
    expected = 0.5 * (kl_p + kl_q) / math.log(2)
    assert jsd(["aab"], ["abc"], 1) == pytest.approx(expected, abs=1e-9)
    # bigrams of "aab" = {aa, ab}, of "abc" = {ab, bc}: p = (1/2, 1/2, 0), q = (0, 1/2, 1/2) -> JSD = 1/2 bit
    assert jsd(["aab"], ["abc"], 2) == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize("jsd", [ngram_jsd, project_jsd], ids=["counting", "NgramReference"])
def test_jsd_padding_counts(jsd):
    """'`' padding is a character like any other: two lines that differ only in padding differ."""
    assert jsd(["ab``"], ["abab"], 1) > 0.1


@pytest.mark.parametrize("vocab_size", [6, 3000])
def test_fast_reference_jsd_equals_plain_counting(tmp_path, vocab_size):
    """The cached int64-key implementation equals plain n-gram counting, also with a vocabulary whose 6-grams do
    not fit 64 bits as base-V numbers (3000^6 > 2^63)."""
    rng = np.random.RandomState(0)
    spread = max(1, vocab_size // 7)  # 7 distinct characters over the whole vocabulary (vocab 6: 0..5)
    reference = torch.as_tensor(rng.randint(0, 7, (300, 12)) * spread % vocab_size)
    samples = torch.as_tensor(rng.randint(0, 7, (80, 12)) * spread % vocab_size)
    assert len(torch.unique(reference)) >= 6
    samples[:40] = reference[:40]  # overlap, so both kinds of terms occur
    model = common.NgramReference(reference, vocab_size, max_n=6, cache_dir=str(tmp_path))
    cached = common.NgramReference(reference, vocab_size, max_n=6, cache_dir=str(tmp_path))
    assert len(list(tmp_path.glob("ngram_counts_*.npz"))) == 1
    chars = [chr(0x4E00 + i) for i in range(vocab_size)]
    as_text = lambda rows: ["".join(chars[i] for i in row) for row in rows.tolist()]
    for n in range(1, 7):
        expected = ngram_jsd(as_text(samples), as_text(reference), n)
        assert model.jsd(samples, n) == pytest.approx(expected, abs=1e-9)
        assert cached.jsd(samples, n) == pytest.approx(expected, abs=1e-9)
    assert model.jsd(reference, 4) == pytest.approx(0.0, abs=1e-12)


def test_frechet_diagonal_closed_form():
    rng = np.random.RandomState(1)
    mu1, mu2 = rng.randn(5), rng.randn(5)
    s1, s2 = rng.rand(5) + 0.1, rng.rand(5) + 0.1
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()
    assert common.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_full_covariance_matches_scipy_sqrtm():
    from scipy import linalg
    rng = np.random.RandomState(2)
    a, b = rng.randn(30, 30), rng.randn(30, 30)
    s1, s2 = a @ a.T / 30, b @ b.T / 30
    mu1, mu2 = rng.randn(30), rng.randn(30)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert common.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert common.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)


def test_frechet_rank_deficient_is_finite():
    rng = np.random.RandomState(3)
    x, y = rng.randn(10, 64), rng.randn(12, 64) + 0.5  # n < d: singular covariances
    value = common.frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert np.isfinite(value) and value > 0


def random_fid_weights(path):
    """A file shaped like pytorch-fid's FID weights (random values): the FID Inception as pytorch-fid builds it."""
    from pytorch_fid import inception as pf
    torch.manual_seed(0)
    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = pf.FIDInceptionA(192, 32), pf.FIDInceptionA(256, 64), \
        pf.FIDInceptionA(288, 64)
    net.Mixed_6b, net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=128), pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d, net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=160), pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b, net.Mixed_7c = pf.FIDInceptionE_1(1280), pf.FIDInceptionE_2(2048)
    torch.save(net.state_dict(), path)
    return net.state_dict()


def no_downloads(monkeypatch, tmp_path):
    """An empty torch hub cache (TORCH_HOME), and any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # set back after the test: load_fid_net sets the folder
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.mark.slow  # InceptionV3 on the CPU (and the digit classifier): seconds, not milliseconds
def test_fid_net_is_pytorch_fid_with_the_given_weights(tmp_path, monkeypatch):
    """--fid-weights PATH: pytorch-fid's InceptionV3 holding exactly that file's weights, no download; the
    features are pytorch-fid's own on [0, 1] images (ours take [-1, 1] and grey images)."""
    from pytorch_fid.inception import InceptionV3
    no_downloads(monkeypatch, tmp_path)
    state = random_fid_weights(tmp_path / "weights.pth")
    net = common.load_fid_net(str(tmp_path / "weights.pth"), torch.device("cpu"))
    assert isinstance(net, InceptionV3)
    loaded = list(net.blocks.state_dict().values())
    expected = [v for k, v in state.items() if not k.startswith("fc.")]  # every tensor but the unused classifier
    assert len(loaded) == len(expected)
    assert sum(v.double().sum().item() for v in loaded) == pytest.approx(sum(v.double().sum().item()
                                                                           for v in expected), rel=1e-12)
    torch.manual_seed(1)
    images = torch.rand(2, 3, 40, 40) * 2 - 1
    with torch.no_grad():
        features = common.fid_features(net, images)
        expected = net((images + 1) / 2)[0].flatten(1)
        grey = common.fid_features(net, images[:, :1])
        expected_grey = net((images[:, :1].repeat(1, 3, 1, 1) + 1) / 2)[0].flatten(1)
    assert features.shape == (2, 2048) and torch.equal(features, expected) and torch.equal(grey, expected_grey)
    assert torch.hub.get_dir() == str(tmp_path / "hub")  # the hub folder is put back


def test_fid_weights_from_the_hub_cache_without_download(tmp_path, monkeypatch):
    no_downloads(monkeypatch, tmp_path)
    os.makedirs(tmp_path / "hub" / "checkpoints")
    random_fid_weights(tmp_path / "hub" / "checkpoints" / common.FID_WEIGHTS_FILE)
    assert common.load_fid_net(None, torch.device("cpu")) is not None


def test_fid_skipped_with_one_warning_and_no_download(tmp_path, monkeypatch, capsys):
    no_downloads(monkeypatch, tmp_path)
    assert common.load_fid_net(None, torch.device("cpu")) is None
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(common.UserError, match="no such file"):
        common.load_fid_net(str(tmp_path / "missing.pth"), torch.device("cpu"))
    (tmp_path / "garbage.pth").write_bytes(b"not weights")
    with pytest.raises(common.UserError, match="not pytorch-fid's"):
        common.load_fid_net(str(tmp_path / "garbage.pth"), torch.device("cpu"))


@pytest.mark.parametrize("dataset,modes", [("8gaussians", 8), ("25gaussians", 25)])
def test_toy_scores_real_samples(dataset, modes):
    rng = np.random.RandomState(0)
    real = common.toy_batch(dataset, 2000, rng)
    scores = common.toy_scores(real, dataset, common.toy_batch(dataset, 2000, rng))
    # in 2D, P(||noise|| <= 3 std) = 1 - exp(-9/2) = 0.989: what perfect samples score
    assert scores["modes"] == modes and scores["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert scores["w1"] < 0.1


def test_toy_scores_three_centres():
    centres = common.toy_centres("25gaussians")[[0, 7, 19]]
    rng = np.random.RandomState(1)
    samples = centres[rng.randint(3, size=900)] + common.TOY_STD["25gaussians"] * rng.randn(900, 2)
    scores = common.toy_scores(samples, "25gaussians", common.toy_batch("25gaussians", 900, rng))
    assert scores["modes"] == 3 and scores["high_quality"] > 0.97
    far = common.toy_scores(samples + 5.0, "25gaussians")
    assert far["modes"] == 0 and far["high_quality"] == 0


def test_w1_exact_on_a_shift():
    """Exact W1 between a point cloud and the same cloud shifted by v is ||v||."""
    rng = np.random.RandomState(4)
    points = rng.randn(300, 2) * 0.01
    assert common.toy_scores(points + [0.3, 0.4], "swissroll", points)["w1"] == pytest.approx(0.5, abs=0.02)


@pytest.mark.slow  # InceptionV3 on the CPU (and the digit classifier): seconds, not milliseconds
def test_fid_in_the_evaluation_with_precomputed_statistics(tmp_path, monkeypatch):
    """The image evaluation computes FID against a TTUR/pytorch-fid style .npz (mu, sigma); a bad file is an error."""
    no_downloads(monkeypatch, tmp_path)
    random_fid_weights(tmp_path / "weights.pth")
    net = common.load_fid_net(str(tmp_path / "weights.pth"), torch.device("cpu"))
    monkeypatch.setattr(common, "load_fid_net", lambda path, device: net)
    features = np.random.RandomState(0).randn(50, 2048)
    np.savez(tmp_path / "stats.npz", mu=features.mean(0), sigma=np.cov(features, rowvar=False))
    data = common.make_data("digits", None, 8, torch.device("cpu"), seed=0)
    run, cpu = types.SimpleNamespace(dir=str(tmp_path)), torch.device("cpu")
    evaluate = common.Evaluator(data, run, common.mnist_generator(128, 8), common.mnist_critic(8), 128, cpu, 4,
                                "weights.pth", str(tmp_path / "stats.npz"))
    metrics = evaluate(7)
    assert np.isfinite(metrics["fid"]) and metrics["fid"] > 0
    assert (tmp_path / "samples_0000007.png").exists()
    (tmp_path / "bad.npz").write_bytes(b"no")
    with pytest.raises(common.UserError, match="--fid-stats"):
        common.Evaluator(data, run, common.mnist_generator(128, 8), common.mnist_critic(8), 128, cpu, 4,
                         "weights.pth", str(tmp_path / "bad.npz"))


def test_text_collapse_scores_on_hand_made_samples():
    pad, a, b = 1, 2, 3
    all_padding = torch.full((10, 8), pad)
    assert common.text_collapse_scores(all_padding) == {"top_char_share": 1.0, "distinct_lines": 0.1}
    one_character = torch.full((4, 8), a)
    one_character[:, -2:] = pad  # 6 of 8 characters are `a`, every line the same
    assert common.text_collapse_scores(one_character) == {"top_char_share": 0.75, "distinct_lines": 0.25}
    lines = torch.tensor([[a, b, pad, pad], [b, a, pad, pad], [a, a, b, pad], [a, b, pad, pad]])
    # 16 characters: 7 padding, 5 a, 4 b; 3 distinct lines of 4
    assert common.text_collapse_scores(lines) == {"top_char_share": round(7 / 16, 5), "distinct_lines": 0.75}
    real = common.load_text()["train"][:640]
    scores = common.text_collapse_scores(real)
    assert scores["distinct_lines"] > 0.9 and scores["top_char_share"] < 0.5


# ---- the embedded digits' score (a classifier trained here, once per test module: slow lane) ------------------


@pytest.fixture(scope="module")
def digits_score(tmp_path_factory):
    return common.DigitsScore(str(tmp_path_factory.mktemp("cache")))


def real_digits():
    from sklearn.datasets import load_digits
    images = common.load_images("digits", None, 28).float() / 127.5 - 1
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return images[order[:common.DIGITS_HELDOUT]], torch.as_tensor(load_digits().target)[order[:common.DIGITS_HELDOUT]]


@pytest.mark.slow
def test_digits_score_real_heldout_digits_far_below_noise_and_an_untrained_generator(digits_score):
    heldout, _ = real_digits()
    assert digits_score.accuracy >= 0.95
    real = digits_score(heldout)
    assert real["fd_digits"] == digits_score.floor and real["digit_classes"] == 10
    noise = digits_score(torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    data = common.make_data("digits", None, 8, torch.device("cpu"), 0)
    generator, _, z_dim = common.make_nets(data, width=16)
    untrained = digits_score(common.generate(generator, z_dim, 1000, torch.device("cpu")))
    assert noise["fd_digits"] > 20 * real["fd_digits"] and untrained["fd_digits"] > 20 * real["fd_digits"]


@pytest.mark.slow
def test_digits_score_five_classes_score_worse_and_count_five(digits_score):
    heldout, labels = real_digits()
    five = digits_score(heldout[labels < 5])
    assert five["digit_classes"] == 5 and five["fd_digits"] > 3 * digits_score(heldout)["fd_digits"]


@pytest.mark.slow
def test_digits_score_is_the_same_twice_and_after_the_cache_is_deleted(digits_score, tmp_path):
    heldout, _ = real_digits()
    common.DigitsScore.trained.clear()  # not from this process's memory: from the cache folder
    first = common.DigitsScore(str(tmp_path))
    assert len(list(tmp_path.glob("digits_classifier_*.npz"))) == 1
    assert first(heldout) == first(heldout) == digits_score(heldout)
    for path in tmp_path.glob("digits_classifier_*.npz"):
        path.unlink()
    common.DigitsScore.trained.clear()
    assert common.DigitsScore(str(tmp_path))(heldout) == digits_score(heldout)


def test_toy_modes_count_a_centre_holding_1_percent_of_the_samples_not_less():
    centres = common.toy_centres("8gaussians")
    samples = np.concatenate([np.repeat(centres[:1], 981, 0), np.repeat(centres[1:2], 10, 0),  # 1.0 %
                              np.repeat(centres[2:3], 9, 0)])                                    # 0.9 %
    scores = common.toy_scores(samples, "8gaussians")
    assert scores["modes"] == 2 and scores["high_quality"] == 1.0


def test_fid_statistics_are_the_mean_and_the_unbiased_covariance_of_the_features():
    features = torch.as_tensor(np.random.RandomState(0).randn(30, 4))
    net = lambda images: [images.flatten(1)[:, :4].reshape(len(images), 4, 1, 1)]  # pytorch-fid's output shape
    images = features.reshape(30, 1, 2, 2).float() * 2 - 1   # fid_features maps [-1, 1] to [0, 1]: (x + 1) / 2
    mu, sigma = common.fid_statistics(net, images.split(7))
    expected = (images.flatten(1).double() + 1) / 2
    assert np.allclose(mu, expected.mean(0).numpy()) and np.allclose(sigma, np.cov(expected.numpy(), rowvar=False))
    assert np.allclose(sigma, expected.T.cov().numpy())  # normalised by n - 1


def test_generate_returns_exactly_n_samples_in_batches():
    generator = torch.nn.Linear(3, 2)
    assert common.generate(generator, 3, 700, torch.device("cpu"), batch=512).shape == (700, 2)
    assert common.generate(generator, 3, 5, torch.device("cpu"), batch=2).shape == (5, 2)


@pytest.mark.parametrize("size,arch,z_dim", [(32, "dcgan", 100), (64, "dcgan", 100), (64, "resnet", 128)])
def test_make_nets_default_noise_size_is_the_original_codes(size, arch, z_dim):
    data = common.make_data("digits", None, 8, torch.device("cpu"), 0, size)
    assert common.make_nets(data, width=4, arch=arch)[2] == z_dim  # FOGAN's DCGAN: 100; WGAN-GP's ResNet: 128


def test_real_fid_statistics_are_cached_by_every_image_not_a_sample_of_them(tmp_path, monkeypatch):
    """One image replaced (not one of every 997th) is another real set: its statistics are computed anew, never
    the cached ones of the old set."""
    monkeypatch.setattr(common, "fid_statistics", lambda net, batches: (
        np.full(2048, float(sum(b.sum() for b in batches))), np.eye(2048)))
    items = common.load_images("digits", None, 28)
    data = types.SimpleNamespace(items=items.clone(), cache=str(tmp_path), convert=lambda b: b.float(),
                                 dataset="digits")
    evaluator = types.SimpleNamespace(fid_stats=None, fid_net=None, data=data)
    first = common.Evaluator.real_fid_statistics(evaluator)[0][0]
    assert common.Evaluator.real_fid_statistics(evaluator)[0][0] == first  # the cache, for the same images
    data.items[5] = 255 - data.items[5]
    assert common.Evaluator.real_fid_statistics(evaluator)[0][0] != first
    data.items[5] = 255 - data.items[5]  # the first set again: its own cached statistics
    assert common.Evaluator.real_fid_statistics(evaluator)[0][0] == first


@pytest.mark.slow
def test_the_digits_classifier_is_the_same_net_at_one_and_two_threads():
    """fd_digits must not depend on the machine: the classifier (cached under one key) is trained on one thread
    whatever torch's thread count, so a resume elsewhere never retrains it into another net."""
    before = torch.get_num_threads()
    try:
        nets = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            common.DigitsScore.trained.clear()  # trained anew at this thread count
            nets.append(common.DigitsScore(None))
    finally:
        torch.set_num_threads(before)
    assert nets[0].floor == nets[1].floor
    assert all(torch.equal(a, b) for a, b in zip(nets[0].net.state_dict().values(), nets[1].net.state_dict().values()))
