"""Every loss and penalty against a hand computation or a closed form, the FOGAN target against a double loop,
AdvAs's estimator against its definition and finite differences, bf16 penalties; and each method block pasted
into a file whose only import is `import torch`."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import advas
import common
import dragan
import fogan_celeba
import fogan_text
import slogan
import wgangp
from helpers import bf16, linear_critic, quadratic_critic


@pytest.mark.parametrize("one_sided", [False, True])
def test_gradient_penalty_under_bf16_is_the_norm_of_the_bf16_gradient(one_sided):
    """Two linear layers: the input gradient is W1^T w2, computed by autograd in bfloat16 (the dtype of the
    forward) and returned in float32; the penalty takes its norm in float32 (WGAN-GP eq. 3)."""
    torch.manual_seed(0)
    hidden, head = nn.Linear(6, 5), nn.Linear(5, 1)
    with torch.no_grad():
        head.weight.mul_(3.0)
    critic = common.Net(hidden, head, nn.Flatten(0))
    critic.bf16 = True
    real, fake = torch.randn(4, 6), torch.randn(4, 6)
    penalty = wgangp.gradient_penalty(critic, real, fake, one_sided)
    grad = bf16(bf16(head.weight.detach()) @ bf16(hidden.weight.detach()))  # each sample's input gradient
    slope = grad.norm()
    expected = (max(slope - 1, 0) if one_sided else slope - 1) ** 2
    assert penalty.dtype == torch.float32
    assert math.isclose(penalty.item(), expected.item(), rel_tol=1e-5)
    exact_slope = (head.weight @ hidden.weight).norm().item()
    assert abs(slope.item() - exact_slope) < 0.01 * exact_slope  # bfloat16: within 1% of the float32 slope


@pytest.mark.parametrize("dataset,width", [("digits", 8), ("swissroll", 32)])
def test_bf16_penalty_and_its_critic_gradient_follow_float32(dataset, width):
    """On the real nets: the penalty within 2% of float32, its gradient on the critic's weights pointing the
    same way (cosine > 0.995)."""
    data = common.make_data(dataset, None, 32, torch.device("cpu"), 0, 28 if dataset == "digits" else None)
    torch.manual_seed(0)
    _, critic, _ = common.make_nets(data, width=width)
    real = data.next()
    fake = real.flip(0) + 0.3 * torch.randn_like(real)
    results = {}
    for amp in (False, True):
        critic.bf16 = amp
        torch.manual_seed(1)  # the same interpolates
        penalty = wgangp.gradient_penalty(critic, real, fake)
        grads = torch.autograd.grad(penalty, list(critic.parameters()), allow_unused=True)  # not the last bias
        results[amp] = penalty.item(), torch.cat([g.flatten() for g in grads if g is not None])
    (p32, g32), (p16, g16) = results[False], results[True]
    # the penalty (s - 1)^2 magnifies the slope's bfloat16 error by 2 s / |s - 1| (about 4 at these slopes)
    assert abs(p16 - p32) < 0.02 * p32
    assert torch.nn.functional.cosine_similarity(g16, g32, dim=0) > 0.995


@pytest.mark.parametrize("module", [fogan_text, fogan_celeba])
def test_fogan_target_is_exact_when_a_generated_sample_nearly_copies_a_real_one(module):
    torch.manual_seed(3)
    real = torch.rand(64, 64, 32)  # the paper's batch of 64: cdist would take its matmul path (over 25 rows)
    fake = torch.rand(64, 64, 32)
    fake[0] = real[5] + 1e-3 * torch.randn(64, 32)  # a near-copy: d_05 ~ 0.045 against norms ~ 26
    f_real, f_fake = torch.randn(64), torch.randn(64)
    got = module.first_order_target(real, fake, f_real, f_fake)
    x, xp = real.flatten(1).double(), fake.flatten(1).double()
    d = torch.cdist(xp, x, compute_mode="donot_use_mm_for_euclid_dist") + 1e-6
    w = (f_real.double()[None] - f_fake.double()[:, None]) / d ** 3
    numerator = torch.stack([(w[i][:, None] * (x - xp[i])).mean(0).norm() for i in range(64)])
    expected = numerator / (1 / d).mean(1)
    assert torch.allclose(got.double(), expected, rtol=1e-4)
    # the norm-expansion distance (cdist's matmul path in float32) is off here by far more than that
    approx = torch.cdist(fake.flatten(1), real.flatten(1), compute_mode="use_mm_for_euclid_dist")[0, 5]
    assert abs(approx.item() - (d[0, 5].item() - 1e-6)) / d[0, 5].item() > 1e-3


@pytest.mark.parametrize("shape", [(), (1,), (1, 1, 1)])
def test_fogan_target_takes_any_score_shape(shape):
    torch.manual_seed(4)
    real, fake, f_real, f_fake = torch.randn(6, 3), torch.randn(6, 3), torch.randn(6), torch.randn(6)
    flat = fogan_text.first_order_target(real, fake, f_real, f_fake)
    shaped = fogan_text.first_order_target(real, fake, f_real.reshape(6, *shape), f_fake.reshape(6, *shape))
    assert torch.equal(flat, shaped)


def test_dragan_original_perturbation_uses_the_population_std():
    torch.manual_seed(5)
    real = torch.randn(8, 3)
    torch.manual_seed(6)
    got = dragan.dragan_perturb(real, "original")
    torch.manual_seed(6)
    noise, alpha = torch.rand_like(real), torch.rand(8, 1)
    expected = real + alpha * 0.5 * float(np.std(real.numpy())) * noise  # numpy's std: ddof 0
    assert torch.allclose(got, expected, atol=1e-6)


METHODS = [wgangp, slogan, dragan, advas, fogan_text, fogan_celeba]


def batch(seed=0, n=8, d=5):
    torch.manual_seed(seed)
    return torch.randn(n, d), torch.randn(n, d) + 0.5


def test_wgangp_losses_by_hand():
    real, fake = batch(1)
    w = torch.randn(5)
    loss, terms = wgangp.critic_loss(linear_critic(w), real, fake, lam=3.0)
    w_distance = (real @ w).mean() - (fake @ w).mean()
    assert terms["w_distance"].item() == pytest.approx(w_distance.item(), rel=1e-5)
    assert terms["penalty"].item() == pytest.approx((w.norm() - 1).pow(2).item(), rel=1e-5)
    assert loss.item() == pytest.approx((-w_distance + 3.0 * (w.norm() - 1) ** 2).item(), rel=1e-5)
    loss, _ = wgangp.generator_loss(linear_critic(w), real, fake)
    assert loss.item() == pytest.approx(-(fake @ w).mean().item(), rel=1e-5)


def test_wgan_clipped_critic_loss_and_clipping_by_hand():
    """WGAN Algorithm 1: the loss is E f(fake) - E f(real) with no penalty term; clipping puts every parameter in
    [-c, c] and reports the share that sits on the bound."""
    real, fake = batch(2)
    w = torch.tensor([0.5, -0.002, 0.004, -0.3, 0.01])
    loss, terms = wgangp.clipped_critic_loss(linear_critic(w), real, fake)
    assert set(terms) == {"critic_loss", "w_distance"}  # no penalty
    assert loss.item() == pytest.approx(((fake @ w).mean() - (real @ w).mean()).item(), rel=1e-5)
    critic = linear_critic(w)
    share = wgangp.clip_weights(critic, 0.01)
    assert torch.equal(critic[1].weight.detach(), torch.tensor([[0.01, -0.002, 0.004, -0.01, 0.01]]))
    assert share.item() == pytest.approx(3 / 5)


@pytest.mark.parametrize("one_sided", [True, False])
def test_slogan_losses_by_hand(one_sided):
    real, fake = batch(2)
    w = torch.randn(5)
    loss, terms = slogan.critic_loss(linear_critic(w), real, fake, lam=4.0, variant=1, one_sided=one_sided)
    quotient = ((real - fake) @ w).abs() / ((real - fake).norm(dim=1) + 1e-8)
    penalty = (F.relu(quotient - 1) if one_sided else quotient - 1).pow(2).mean()
    w_distance = (real @ w).mean() - (fake @ w).mean()
    assert terms["penalty"].item() == pytest.approx(penalty.item(), rel=1e-5)
    assert loss.item() == pytest.approx((-w_distance + 4.0 * penalty).item(), rel=1e-5)
    loss, _ = slogan.generator_loss(linear_critic(w), real, fake)
    assert loss.item() == pytest.approx(-(fake @ w).mean().item(), rel=1e-5)


@pytest.mark.parametrize("objective", ["gan", "wgan"])
def test_dragan_losses_by_hand(objective):
    real, fake = batch(3)
    w = torch.randn(5)
    f_real, f_fake = real @ w, fake @ w
    loss, terms = dragan.critic_loss(linear_critic(w), real, fake, lam=2.0, k=1.5, objective=objective)
    if objective == "gan":  # -log sigmoid f(real) - log(1 - sigmoid f(fake))
        adversarial = -torch.log(torch.sigmoid(f_real)).mean() - torch.log(1 - torch.sigmoid(f_fake)).mean()
        generator = -torch.log(torch.sigmoid(f_fake)).mean()
    else:
        adversarial, generator = f_fake.mean() - f_real.mean(), -f_fake.mean()
    penalty = (w.norm() - 1.5) ** 2
    assert terms["penalty"].item() == pytest.approx(penalty.item(), rel=1e-5)
    assert loss.item() == pytest.approx((adversarial + 2.0 * penalty).item(), rel=1e-5)
    loss, _ = dragan.generator_loss(linear_critic(w), real, fake, objective=objective)
    assert loss.item() == pytest.approx(generator.item(), rel=1e-5)


def test_advas_losses_and_gradient_rule_by_hand():
    real, fake = batch(4)
    w = torch.randn(5)
    loss, terms = advas.critic_loss(linear_critic(w), real, fake, gp_weight=10.0)
    w_distance = (real @ w).mean() - (fake @ w).mean()
    assert loss.item() == pytest.approx((-w_distance + 10.0 * (w.norm() - 1) ** 2).item(), rel=1e-5)
    loss, _ = advas.critic_loss(linear_critic(w), real, fake, gp_weight=0.0)
    assert loss.item() == pytest.approx(-w_distance.item(), rel=1e-5)
    loss, _ = advas.generator_loss(linear_critic(w), real, fake)
    assert loss.item() == pytest.approx(-(fake @ w).mean().item(), rel=1e-5)
    # g = g_orig + lambda g_AdvAs, lambda = min(1, ||g_orig|| / ||g_AdvAs||) over all parameters together
    g_orig, g_advas = [torch.tensor([3.0, 0.0]), torch.tensor([4.0])], [torch.tensor([0.0, 10.0]), torch.tensor([0.0])]
    g, scale = advas.advas_gradient(g_orig, g_advas)
    assert scale.item() == pytest.approx(0.5)
    assert torch.allclose(g[0], torch.tensor([3.0, 5.0])) and torch.allclose(g[1], torch.tensor([4.0]))
    g, scale = advas.advas_gradient(g_advas, g_orig)  # ||g_orig|| > ||g_AdvAs||: lambda capped at 1
    assert scale.item() == 1.0 and torch.allclose(g[0], torch.tensor([3.0, 10.0]))
    g, scale = advas.advas_gradient(g_orig, g_advas, fixed_lambda=2.0)  # --advas-lambda 2: used as given
    assert scale.item() == 2.0 and torch.allclose(g[0], torch.tensor([3.0, 20.0]))


def test_advas_lambda_flag_fixes_lambda_and_the_default_is_the_rule(tmp_path, monkeypatch):
    """advas.py --advas-lambda L hands L to advas_gradient; without it the rule decides (fixed_lambda None)."""
    seen = []
    real = advas.advas_gradient
    monkeypatch.setattr(advas, "advas_gradient", lambda g, a, fixed=None: seen.append(fixed) or real(g, a, fixed))
    flags = ["--dataset", "8gaussians", "--width", "8", "--batch-size", "8", "--iters", "2", "--eval-samples", "20",
             "--runs-dir", str(tmp_path)]
    advas.main(flags + ["--advas-lambda", "0.3"])
    advas.main(flags)
    assert seen == [0.3, 0.3, None, None]


@pytest.mark.parametrize("module,lam", [(fogan_text, 0.1), (fogan_celeba, 0.5)])
def test_fogan_losses_by_hand(module, lam):
    real, fake = batch(5)
    w = torch.randn(5)
    critic = linear_critic(w)
    torch.manual_seed(6)
    loss, terms = module.critic_loss(critic, real, fake, mu=1.7)  # the file's default lam
    torch.manual_seed(6)  # the same a ~ U[0, 0.01] per sample
    a = 0.01 * torch.rand(8, 1)
    perturbed = a * real + (1 - a) * fake
    f_real, f_perturbed = real @ w, perturbed @ w
    lipschitz = ((f_real - f_perturbed) ** 2 / (real - perturbed).norm(dim=1)).mean()
    target = module.first_order_target(real, perturbed, f_real, f_perturbed)  # tested against a double loop
    first_order = ((w.norm() - target) ** 2).mean()
    w_distance = f_real.mean() - f_perturbed.mean()
    assert terms["lipschitz"].item() == pytest.approx(lipschitz.item(), rel=1e-4)
    assert terms["first_order"].item() == pytest.approx(first_order.item(), rel=1e-4)
    assert loss.item() == pytest.approx((-w_distance + lam * lipschitz + 1.7 * first_order).item(), rel=1e-4)
    torch.manual_seed(7)
    loss, _ = module.generator_loss(critic, real, fake)
    torch.manual_seed(7)
    a = 0.01 * torch.rand(8, 1)
    assert loss.item() == pytest.approx(-((a * real + (1 - a) * fake) @ w).mean().item(), rel=1e-5)


def shaped_critic(output_shape):
    torch.manual_seed(8)
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    return nn.Sequential(net, nn.Unflatten(1, output_shape)) if output_shape else nn.Sequential(net, nn.Flatten(0))


@pytest.mark.parametrize("module", METHODS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("which", ["critic_loss", "generator_loss"])
def test_losses_are_the_same_for_every_critic_output_shape(module, which):
    real, fake = batch(9)
    results = []
    for shape in ((), (1,), (1, 1, 1)):
        torch.manual_seed(10)
        loss, terms = getattr(module, which)(shaped_critic(shape), real, fake)
        results.append([loss.item()] + [v.item() for v in terms.values()])
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize("one_sided", [True, False])
def test_slogan_penalty_is_the_same_for_a_critic_returning_b_by_1(variant, one_sided):
    """The pasted-function bug: (B, 1) - (B,) broadcast to B x B and gave 0.6503 instead of 0.6490."""
    real, fake = batch(11)
    values = []
    for shape in ((), (1,)):
        torch.manual_seed(12)
        values.append(slogan.lipschitz_quotient_penalty(shaped_critic(shape), real, fake, variant, one_sided).item())
    assert values[0] == values[1]


def test_penalties_are_the_same_for_every_critic_output_shape():
    real, fake = batch(13)
    for penalty in (lambda c: wgangp.gradient_penalty(c, real, fake), lambda c: dragan.dragan_penalty(c, real),
                    lambda c: advas.advas_r_tilde(c, real, fake, 10.0)):
        values = []
        for shape in ((), (1,), (1, 1, 1)):
            torch.manual_seed(14)
            values.append(penalty(shaped_critic(shape)).item())
        assert values[0] == values[1] == values[2]


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


@pytest.mark.parametrize("module", [fogan_text, fogan_celeba])
def test_fogan_generator_gradient_reaches_the_generator(module):
    """generator_loss trains through x' = a x + (1 - a) G(z): for a linear critic f(x) = w . x the gradient of
    -E f(x') for G's bias is -E (1 - a) w, between -w and -(1 - max_alpha) w."""
    torch.manual_seed(4)
    generator, w = nn.Linear(2, 3), torch.tensor([1.0, -2.0, 0.5])
    loss, _ = module.generator_loss(linear_critic(w), torch.randn(8, 3), generator(torch.randn(8, 2)), max_alpha=0.5)
    loss.backward()
    scale = generator.bias.grad / -w  # E (1 - a), a ~ U[0, max_alpha]
    assert torch.allclose(scale, scale[0].expand(3)) and 0.5 <= scale[0].item() < 1


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
    """r_tilde and d r_tilde / d theta from each estimator: "definition", or advas_r_tilde_fast's piecewise_linear flag
    (False / True), with the same interpolation draws."""
    generator, critic, real, z = advas_nets(kind)
    params = list(generator.parameters())
    results = []
    for estimator in estimators:
        torch.manual_seed(17)  # the same interpolation draws, in the same order
        fake = generator(z)
        if estimator == "definition":
            results.append(reference_advas_generator_gradient(critic, real, fake, gp_weight, params))
        elif estimator == "plain":  # advas.py's own definition
            r_tilde = advas.advas_r_tilde(critic, real, fake, gp_weight)
            results.append((r_tilde, torch.autograd.grad(r_tilde, params)))
        else:
            r_tilde = advas.advas_r_tilde_fast(critic, real, fake, gp_weight, piecewise_linear=estimator)
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
    """advas_r_tilde_fast keeps a graph only for the fake-dependent part of L_adv, and for a piecewise-linear critic
    (the toy and text nets) not for the penalty either: same r_tilde, same generator gradient as the definition,
    float64, relative error 1e-8. The layer-norm critic is not piecewise linear and takes the full path."""
    generator, critic, real, z = advas_nets(kind)
    piecewise_linear = advas.is_piecewise_linear(critic)
    assert piecewise_linear == (kind != "dcgan layer norm")
    estimators = ["definition", "plain", False] + ([True] if piecewise_linear else [])
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
                                       ("dcgan layer", "digits", 32, {"arch": "dcgan", "critic_norm": "layer"}),
                                       ("dcgan batch", "digits", 32, {"arch": "dcgan", "critic_norm": "batch"}),
                                       ("resnet", "digits", 64, {"arch": "resnet"})]:
        data = common.make_data(dataset, None, 8, cpu, 0, size)
        found[name] = advas.is_piecewise_linear(common.make_nets(data, width=4, **flags)[1])
    assert found == {"toy relu": True, "toy leaky": True, "text": True, "mnist": True, "dcgan": True,
                     "dcgan layer": False, "dcgan batch": False, "resnet": False}
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


# ---- the copy-paste promise: each method block runs with `import torch` alone ---------------------------------


def pasted(module, tmp_path):
    """The marked block of a method file, pasted into a new file whose only import is `import torch`, loaded."""
    import importlib.util
    source = open(module.__file__).read()
    block = source[source.index("# ---- the method: copy from here"):source.index("# ---- end of the method")]
    path = tmp_path / f"pasted_{module.__name__}.py"
    path.write_text("import torch\n\n\n" + block)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    namespace = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(namespace)
    assert set(vars(namespace)) - set(vars(module)) <= {"__builtins__", "__file__", "__cached__", "__spec__",
                                                        "__loader__", "__name__", "__doc__", "__package__"}
    return namespace


PASTE_CALLS = {  # every option of critic_loss / generator_loss (and AdvAs's own functions)
    wgangp: [("critic_loss", {"one_sided": s}) for s in (False, True)] + [("generator_loss", {}),
                                                                         ("clipped_critic_loss", {})],
    slogan: [("critic_loss", {"variant": v, "one_sided": s}) for v in (1, 2) for s in (True, False)]
    + [("generator_loss", {})],
    dragan: [("critic_loss", {"perturb": p, "objective": o}) for p in ("original", "paper", "improved", "prod")
             for o in ("gan", "wgan")] + [("generator_loss", {"objective": o}) for o in ("gan", "wgan")],
    fogan_text: [("critic_loss", {}), ("generator_loss", {})],
    fogan_celeba: [("critic_loss", {}), ("generator_loss", {})],
    advas: [("critic_loss", {"gp_weight": g}) for g in (0.0, 10.0)] + [("generator_loss", {})],
}


@pytest.mark.parametrize("module", METHODS, ids=lambda m: m.__name__)
def test_the_method_block_pasted_with_import_torch_alone_gives_the_same_losses(module, tmp_path):
    copy = pasted(module, tmp_path)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    real, fake = torch.randn(8, 2, 3), torch.randn(8, 2, 3)
    for name, options in PASTE_CALLS[module]:
        torch.manual_seed(0)
        loss, terms = getattr(copy, name)(critic, real, fake, **options)
        torch.manual_seed(0)
        expected, expected_terms = getattr(module, name)(critic, real, fake, **options)
        assert torch.equal(loss, expected) and terms.keys() == expected_terms.keys(), (name, options)
        loss.backward()  # the graph is whole: every term reaches the critic
    if module is wgangp:
        clipped = [nn.Linear(3, 3) for _ in range(2)]
        clipped[1].load_state_dict(clipped[0].state_dict())
        assert torch.equal(copy.clip_weights(clipped[0], 0.3), wgangp.clip_weights(clipped[1], 0.3))
        assert torch.equal(clipped[0].weight, clipped[1].weight)
    if module is advas:
        for piecewise in (False, True):
            torch.manual_seed(1)
            r = copy.advas_r_tilde_fast(critic, real, fake.requires_grad_(True), 10.0, piecewise)
            torch.manual_seed(1)
            assert torch.equal(r, advas.advas_r_tilde_fast(critic, real, fake, 10.0, piecewise))
        torch.manual_seed(1)
        r = copy.advas_r_tilde(critic, real, fake, 10.0)
        torch.manual_seed(1)
        assert torch.equal(r, advas.advas_r_tilde(critic, real, fake, 10.0))
        assert copy.is_piecewise_linear(critic) and not copy.is_piecewise_linear(nn.Sequential(nn.Tanh()))
        g, scale = copy.advas_gradient([torch.ones(3)], [torch.full((3,), 4.0)])
        assert torch.allclose(g[0], torch.full((3,), 2.0)) and scale.item() == pytest.approx(0.25)
