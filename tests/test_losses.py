"""Each method file's `critic_loss` / `generator_loss`: by hand on a linear critic, the same numbers for critics
returning (B,), (B, 1) or (B, 1, 1, 1), and a short learning test on a 2D toy that a sign error breaks."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import advas
import dragan
import fogan_celeba
import fogan_text
import slogan
import wgangp
from helpers import linear_critic

METHODS = [wgangp, slogan, dragan, advas, fogan_text, fogan_celeba]


def batch(seed=0, n=8, d=5):
    torch.manual_seed(seed)
    return torch.randn(n, d), torch.randn(n, d) + 0.5


# ---- by hand on a linear critic f(x) = w . x (its gradient is w everywhere) ---------------------------------


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


# ---- any critic output shape ----------------------------------------------------------------------------


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


# ---- learning: a 2D toy, a shifted Gaussian the generator must move onto ---------------------------------


def train_shift(module, critic_kwargs=None, steps=200, n_critic=3, advas_step=False):
    """Generator G(z) = shift + 0.1 z starting at shift (2, 2); data N(0, 0.1^2 I). Returns the final ||shift||."""
    torch.manual_seed(0)
    shift = nn.Parameter(torch.tensor([2.0, 2.0]))
    critic = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
    opt_critic = torch.optim.Adam(critic.parameters(), lr=2e-3, betas=(0.5, 0.9))
    opt_generator = torch.optim.Adam([shift], lr=2e-2, betas=(0.5, 0.9))
    for _ in range(steps):
        for _ in range(n_critic):
            real, fake = 0.1 * torch.randn(64, 2), (shift + 0.1 * torch.randn(64, 2)).detach()
            loss, _ = module.critic_loss(critic, real, fake, **(critic_kwargs or {}))
            opt_critic.zero_grad()
            loss.backward()
            opt_critic.step()
        real, fake = 0.1 * torch.randn(64, 2), shift + 0.1 * torch.randn(64, 2)
        loss, _ = module.generator_loss(critic, real, fake)
        if advas_step:
            g_orig = torch.autograd.grad(loss, [shift], retain_graph=True)
            r_tilde = advas.advas_r_tilde(critic, 0.1 * torch.randn(64, 2), fake, 10.0)
            (shift.grad,), _ = advas.advas_gradient(g_orig, torch.autograd.grad(r_tilde, [shift]))
        else:
            opt_generator.zero_grad()
            loss.backward()
        opt_generator.step()
    return shift.norm().item()


@pytest.mark.parametrize("module,kwargs,advas_step", [
    (wgangp, {}, False), (slogan, {}, False), (dragan, {}, False), (dragan, {"objective": "wgan"}, False),
    (advas, {}, True), (fogan_text, {}, False), (fogan_celeba, {}, False),
], ids=["wgangp", "slogan", "dragan", "dragan-wgan", "advas", "fogan_text", "fogan_celeba"])
def test_each_method_moves_the_generator_onto_the_data(module, kwargs, advas_step):
    assert train_shift(module, kwargs, advas_step=advas_step) < 0.5  # from 2.83
