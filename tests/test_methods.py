"""Each method's loss against hand computations / autograd checks, and a smoke run of every script."""
import csv
import math
import os

import pytest
import torch
import torch.nn as nn

import advas
import common
import dragan
import fogan_celeba
import fogan_text
import slogan
import wgangp
from helpers import linear_critic, quadratic_critic, write_billion_word


# ---- FOGAN ---------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [fogan_text, fogan_celeba])
def test_fogan_target_equals_double_loop(module):
    torch.manual_seed(0)
    real, fake = torch.randn(7, 2, 3), torch.randn(7, 2, 3)
    f_real, f_fake = torch.randn(7), torch.randn(7)
    got = module.first_order_target(real, fake, f_real, f_fake)
    x, xp = real.flatten(1).double(), fake.flatten(1).double()
    for i in range(7):
        numerator, denominator = torch.zeros(6, dtype=torch.float64), 0.0
        for j in range(7):
            d = (x[j] - xp[i]).norm() + 1e-6
            numerator += (x[j] - xp[i]) * (f_real[j] - f_fake[i]).double() / d ** 3
            denominator += 1 / d
        expected = (numerator / 7).norm() / (denominator / 7)
        assert got[i].item() == pytest.approx(expected.item(), rel=1e-4)


def test_fogan_identical_pairs_contribute_0_and_no_nan():
    torch.manual_seed(2)
    critic = nn.Sequential(common.mlp(4, 1, width=8), nn.Flatten(0))
    real = torch.randn(5, 4)
    fake = real.clone()
    fake[3:] += 1.0  # two pairs apart, three identical
    loss, terms = fogan_text.critic_loss(critic, real, fake, lam=0.1, mu=1.0, max_alpha=0.0)  # x' = fake
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in critic.parameters())
    f_real, f_fake = critic(real), critic(fake)
    by_hand = sum((f_real[i] - f_fake[i]) ** 2 / (real[i] - fake[i]).norm() for i in (3, 4)) / 5
    assert terms["lipschitz"].item() == pytest.approx(by_hand.item(), rel=1e-5)
    loss, terms = fogan_text.critic_loss(critic, real, real.clone(), lam=0.1, mu=1.0, max_alpha=0.0)
    assert terms["lipschitz"].item() == 0.0 and torch.isfinite(loss)


def test_fogan_perturbation():
    torch.manual_seed(3)
    real, fake = torch.zeros(1000, 3), torch.ones(1000, 3)
    perturbed = fogan_text.perturb_fake(real, fake, 0.01)
    a = 1 - perturbed[:, 0]  # x' = a * 0 + (1 - a) * 1
    assert 0 <= a.min() and a.max() <= 0.01 and a.std() > 0.002
    assert torch.allclose(perturbed, perturbed[:, :1].expand(-1, 3))  # one a per sample


def test_fogan_generator_gradient_reaches_the_generator():
    torch.manual_seed(4)
    generator = nn.Linear(2, 3)
    critic = linear_critic(torch.tensor([1.0, -2.0, 0.5]))
    loss = -critic(fogan_text.perturb_fake(torch.randn(8, 3), generator(torch.randn(8, 2)))).mean()
    loss.backward()
    assert generator.weight.grad.abs().sum() > 0


# ---- DRAGAN --------------------------------------------------------------------------------


@pytest.mark.parametrize("scale,k", [(0.5, 1.0), (2.0, 1.0), (3.0, 2.0)])
def test_dragan_penalty_linear_critic(scale, k):
    torch.manual_seed(5)
    w = torch.randn(2, 3, 3)
    w = scale * w / w.norm()
    penalty = dragan.dragan_penalty(linear_critic(w), torch.randn(10, 2, 3, 3), k)
    assert penalty.item() == pytest.approx((scale - k) ** 2, rel=1e-5, abs=1e-7)


def test_dragan_original_noise_is_positive_with_one_scalar_std():
    torch.manual_seed(6)
    real = torch.stack([torch.full((500,), 3.0), torch.randn(500) * 4], 1)  # coordinate 0 constant
    shifted = dragan.dragan_perturb(real, "original") - real
    assert shifted.min().item() >= 0
    assert shifted.max().item() <= 0.5 * real.std().item() + 1e-6
    # one std for the whole batch: the constant coordinate is perturbed like the other one
    assert shifted[:, 0].mean().item() == pytest.approx(shifted[:, 1].mean().item(), rel=0.2)
    assert shifted[:, 0].mean().item() == pytest.approx(0.5 * real.std().item() / 4, rel=0.15)  # E[alpha U] = 1/4


def test_dragan_improved_per_coordinate_std_keeps_constants():
    torch.manual_seed(7)
    real = torch.stack([torch.full((4000,), 3.0), torch.randn(4000), torch.randn(4000) * 10], 1)
    shifted = dragan.dragan_perturb(real, "improved") - real
    assert torch.all(shifted[:, 0] == 0)
    assert (shifted[:, 1] < 0).any() and (shifted[:, 1] > 0).any()  # both signs
    ratio = shifted[:, 2].std() / shifted[:, 1].std()
    assert ratio.item() == pytest.approx(real[:, 2].std().item() / real[:, 1].std().item(), rel=0.1)
    assert shifted[:, 1].std().item() == pytest.approx(0.25 * real[:, 1].std().item(), rel=0.1)


def test_dragan_paper_noise_has_variance_c():
    torch.manual_seed(8)
    real = torch.zeros(20000, 2)
    assert dragan.dragan_perturb(real, "paper", c=4.0).var().item() == pytest.approx(4.0, rel=0.05)


def test_prod_penalises_at_the_real_points():
    torch.manual_seed(9)
    real = torch.randn(16, 3)
    assert torch.equal(dragan.dragan_perturb(real, "prod"), real)
    penalty = dragan.dragan_penalty(quadratic_critic(), dragan.dragan_perturb(real, "prod"))
    assert penalty.item() == pytest.approx(((real.norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)


# ---- SLOGAN and one-sided penalties --------------------------------------------------------


@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize("slope", [0.4, 1.0, 1.8])
def test_slogan_linear_critic_closed_form(variant, slope):
    """In 1D a linear critic f(x) = w x has every Lipschitz quotient equal to |w|."""
    torch.manual_seed(10)
    critic = linear_critic(torch.tensor([slope]))
    real, fake = torch.randn(64, 1), torch.randn(64, 1) + 3  # pairs well apart
    one_sided = slogan.lipschitz_quotient_penalty(critic, real, fake, variant, one_sided=True)
    two_sided = slogan.lipschitz_quotient_penalty(critic, real, fake, variant, one_sided=False)
    assert one_sided.item() == pytest.approx(max(slope - 1, 0) ** 2, abs=1e-5)
    assert two_sided.item() == pytest.approx((slope - 1) ** 2, abs=1e-5)
    if slope < 1:  # (at exactly 1, float rounding of the quotient can land a hair above 1)
        assert one_sided.item() == 0.0


def test_slogan_variant_1_quotients_by_hand():
    torch.manual_seed(11)
    w = torch.tensor([2.0, -1.0, 0.5])
    real, fake = torch.randn(9, 3), torch.randn(9, 3)
    quotients = ((real - fake) @ w).abs() / ((real - fake).norm(dim=1) + 1e-8)
    got = slogan.lipschitz_quotient_penalty(linear_critic(w), real, fake, 1, one_sided=True)
    assert got.item() == pytest.approx(torch.relu(quotients - 1).pow(2).mean().item(), rel=1e-5)
    unit = linear_critic(w / w.norm())  # ||w|| = 1: every quotient <= 1, one-sided is exactly 0
    assert slogan.lipschitz_quotient_penalty(unit, real, fake, 1).item() == 0.0
    assert slogan.lipschitz_quotient_penalty(unit, real, fake, 2).item() == 0.0


def test_one_sided_gradient_penalty_is_0_below_slope_1():
    critic = linear_critic(torch.tensor([0.6, 0.8]))  # ||w|| = 1
    assert wgangp.gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2), one_sided=True).item() == 0.0


# ---- AdvAs ---------------------------------------------------------------------------------


def small_critic(dtype=torch.float32):
    torch.manual_seed(12)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1), nn.Flatten(0)).to(dtype)


def test_advas_r_tilde_is_the_dot_product_of_two_half_batch_gradients():
    critic = small_critic()
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    torch.manual_seed(13)
    r_tilde = advas.advas_r_tilde(critic, real, fake, gp_weight=10.0)
    torch.manual_seed(13)  # the same interpolation draws, in the same order
    params = list(critic.parameters())
    x1 = torch.autograd.grad(advas.critic_loss(critic, real[:4], fake[:4], gp_weight=10.0)[0], params)
    x2 = torch.autograd.grad(advas.critic_loss(critic, real[4:], fake[4:], gp_weight=10.0)[0], params)
    expected = torch.dot(torch.cat([g.flatten() for g in x1]), torch.cat([g.flatten() for g in x2]))
    assert r_tilde.item() == pytest.approx(expected.item(), rel=1e-5)


def reference_advas_generator_gradient(critic, real, fake, gp_weight, params):
    """The estimator by its definition: X, X' = grad_phi L_adv on the two halves, both with a graph, and
    d(X . X')/d theta by reverse-over-reverse autograd through everything (the slow, obvious way)."""
    half = len(real) // 2
    critic_params = list(critic.parameters())
    x, x_prime = [torch.autograd.grad(advas.critic_loss(critic, r, f, gp_weight=gp_weight)[0], critic_params,
                                      create_graph=True) for r, f in ((real[:half], fake[:half]),
                                                                      (real[half:], fake[half:]))]
    r_tilde = sum((a * b).sum() for a, b in zip(x, x_prime))
    return r_tilde, torch.autograd.grad(r_tilde, params)


def advas_nets(kind):
    """The scripts' own nets, small, float64: toy MLP, text ResNet, a 32x32 DCGAN critic with layer norm."""
    torch.manual_seed(16)
    if kind == "toy":
        data = common.make_data("swissroll", None, 16, torch.device("cpu"), 0, None)
        generator, critic, z_dim = common.make_nets(data, width=32)
    elif kind == "text":
        data = common.make_data("text", None, 8, torch.device("cpu"), 0, None)
        generator, critic, z_dim = common.make_nets(data, width=16, generator_batch_norm=True)
    else:
        data = common.make_data("digits", None, 8, torch.device("cpu"), 0, 32)
        generator, critic, z_dim = common.make_nets(data, width=4, arch="dcgan", critic_norm="layer")
    real, z = data.next().double(), torch.randn(len(data.next()), z_dim, dtype=torch.float64)
    return generator.double(), critic.double(), real, z


def advas_generator_gradients(kind, gp_weight, estimators):
    """r_tilde and d r_tilde / d theta from each estimator: "definition", or advas_r_tilde's piecewise_linear flag
    (False / True), with the same interpolation draws."""
    generator, critic, real, z = advas_nets(kind)
    params = list(generator.parameters())
    results = []
    for estimator in estimators:
        torch.manual_seed(17)  # the same interpolation draws, in the same order
        fake = generator(z)
        if estimator == "definition":
            results.append(reference_advas_generator_gradient(critic, real, fake, gp_weight, params))
        else:
            r_tilde = advas.advas_r_tilde(critic, real, fake, gp_weight, piecewise_linear=estimator)
            results.append((r_tilde, torch.autograd.grad(r_tilde, params)))
    return results


def relative_difference(gradient, reference):
    difference = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(gradient, reference)))
    size = torch.sqrt(sum((b ** 2).sum() for b in reference))
    assert size > 0
    return (difference / size).item()


@pytest.mark.parametrize("kind", ["toy", "text", "dcgan layer norm"])
@pytest.mark.parametrize("gp_weight", [0.0, 10.0])
def test_advas_fast_generator_gradient_equals_the_definition(kind, gp_weight):
    """advas_r_tilde keeps a graph only for the fake-dependent part of L_adv, and for a piecewise-linear critic
    (the toy and text nets) not for the penalty either: same r_tilde, same generator gradient as the definition,
    float64, relative error 1e-8. The layer-norm critic is not piecewise linear and takes the full path."""
    generator, critic, real, z = advas_nets(kind)
    piecewise_linear = advas.is_piecewise_linear(critic)
    assert piecewise_linear == (kind != "dcgan layer norm")
    estimators = ["definition", False] + ([True] if piecewise_linear else [])
    (ref_r, ref_g), *fast = advas_generator_gradients(kind, gp_weight, estimators)
    for r_tilde, gradient in fast:
        assert r_tilde.item() == pytest.approx(ref_r.item(), rel=1e-8)
        assert relative_difference(gradient, ref_g) < 1e-8


def test_advas_piecewise_linear_shortcut_is_wrong_for_other_critics():
    """Why the shortcut is kept for piecewise-linear critics: with layer norm grad_x f varies with x, the penalty's
    third-order term is not zero, and skipping it changes the generator gradient."""
    (_, ref_g), (_, shortcut_g) = advas_generator_gradients("dcgan layer norm", 10.0, ["definition", True])
    assert relative_difference(shortcut_g, ref_g) > 1e-3


def test_is_piecewise_linear_on_the_scripts_critics():
    cpu = torch.device("cpu")
    found = {}
    for name, dataset, size, flags in [("toy relu", "swissroll", None, {}), ("toy leaky", "swissroll", None, {"arch": "mlp-leaky"}),
                                       ("text", "text", None, {}), ("mnist", "digits", 28, {}),
                                       ("dcgan", "digits", 32, {"arch": "dcgan"}),
                                       ("dcgan-pytorch", "digits", 32, {"arch": "dcgan-pytorch"}),
                                       ("dcgan layer", "digits", 32, {"arch": "dcgan", "critic_norm": "layer"}),
                                       ("dcgan batch", "digits", 32, {"arch": "dcgan-pytorch", "critic_norm": "batch"}),
                                       ("resnet", "digits", 64, {"arch": "resnet"})]:
        data = common.make_data(dataset, None, 8, cpu, 0, size)
        found[name] = advas.is_piecewise_linear(common.make_nets(data, width=4, **flags)[1])
    assert found == {"toy relu": True, "toy leaky": True, "text": True, "mnist": True, "dcgan": True,
                     "dcgan-pytorch": True, "dcgan layer": False, "dcgan batch": False, "resnet": False}
    assert not advas.is_piecewise_linear(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)))


@pytest.mark.parametrize("gp_weight", [0.0, 10.0])
def test_advas_gradient_matches_finite_differences(gp_weight):
    """d r_tilde / d theta through fake = G_theta(z), float64 (third-order autograd when gp_weight > 0)."""
    critic = small_critic(torch.float64)
    torch.manual_seed(14)
    generator = nn.Linear(2, 3).double()
    z, real = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)

    def r_tilde():
        torch.manual_seed(15)  # fixed interpolation draws: r_tilde is a deterministic function of theta
        return advas.advas_r_tilde(critic, real, generator(z), gp_weight)

    (grad,) = torch.autograd.grad(r_tilde(), [generator.weight])
    h = 1e-6
    for index in [(0, 0), (1, 1), (2, 0)]:
        original = generator.weight.data[index].item()
        generator.weight.data[index] = original + h
        up = r_tilde().item()
        generator.weight.data[index] = original - h
        down = r_tilde().item()
        generator.weight.data[index] = original
        assert grad[index].item() == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)


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


# ---- smoke runs of every script through main() ---------------------------------------------


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
    images = tmp_path / "faces"
    images.mkdir()
    from PIL import Image
    import numpy as np
    for i in range(10):
        Image.fromarray(np.random.RandomState(i).randint(0, 255, (80, 60, 3), dtype=np.uint8)).save(images / f"{i}.jpg")
    run_dir = fogan_celeba.main(["--data-root", str(images), "--width", "8", "--runs-dir", str(tmp_path),
                                 "--fid-weights", "none", *TINY])
    assert "celeba" in os.path.basename(run_dir)
