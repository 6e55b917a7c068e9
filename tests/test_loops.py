"""The method files' own loops, through each script's main(): what the critic and the generator steps see and do
(recorded by wrapping the method's functions), the critic schedule, and a learning test on a generator whose one
parameter is a shift, trained by the script's loop with its optimisers."""
import numpy as np
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
from helpers import TOY, final_state

pytestmark = pytest.mark.slow  # runs the scripts: not in the fast lane


def record(monkeypatch, module, name, seen, what):
    """Wrap module.name so that every call appends what(*args, **kwargs) to `seen`."""
    function = getattr(module, name)

    def wrapper(*args, **kwargs):
        seen.append(what(*args, **kwargs))
        return function(*args, **kwargs)
    monkeypatch.setattr(module, name, wrapper)


# ---- a learning test through main(): G(z) = shift + 0.1 z starts at (2, 2); the data are N(0, 0.1^2 I) ---------


class Shift(nn.Module):
    def __init__(self):
        super().__init__()
        self.shift = nn.Parameter(torch.tensor([2.0, 2.0]))

    def forward(self, z):
        return self.shift + 0.1 * z


class NearZero(common.ToyData):
    def next(self):
        return torch.as_tensor(0.1 * self.rng.randn(self.batch_size, 2), dtype=torch.float32)

    def real_sample(self, n, seed=1234):
        return 0.1 * np.random.RandomState(seed).randn(n, 2)


def shift_nets(data, **unused):
    torch.manual_seed(0)
    critic = common.Net(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1),
                        nn.Flatten(0))
    return common.Net(Shift()), critic, 2


@pytest.mark.parametrize("module,flags", [
    (wgangp, ["--dataset", "8gaussians"]), (slogan, ["--dataset", "8gaussians"]),
    (dragan, ["--dataset", "8gaussians", "--loss", "gan"]), (dragan, ["--dataset", "8gaussians", "--loss", "wgan"]),
    (advas, ["--dataset", "8gaussians"]), (fogan_text, []), (fogan_celeba, []),
], ids=["wgangp", "slogan", "dragan-gan", "dragan-wgan", "advas", "fogan_text", "fogan_celeba"])
def test_each_scripts_loop_moves_the_generator_onto_the_data(tmp_path, monkeypatch, module, flags):
    monkeypatch.setattr(common, "make_data", lambda dataset, root, batch_size, device, seed, *a, **k:
                        NearZero("8gaussians", batch_size, device, seed))
    monkeypatch.setattr(common, "make_nets", shift_nets)
    run_dir = module.main([*flags, "--iters", "200", "--n-critic", "3", "--batch-size", "64", "--lr-critic", "2e-3",
                           "--lr-generator", "2e-2", "--eval-every", "200", "--eval-samples", "100",
                           "--runs-dir", str(tmp_path)])
    shift = final_state(run_dir)["generator"]["0.shift"]
    assert shift.norm().item() < 0.5, shift  # from 2.83


# ---- what each step sees ---------------------------------------------------------------------------------------


def test_dragan_generator_step_freezes_the_critic_and_perturb_reaches_the_penalty(tmp_path, monkeypatch):
    frozen, kinds, perturbed, penalised = [], [], [], []
    record(monkeypatch, dragan, "generator_loss", frozen,
           lambda critic, real, fake, **k: not any(p.requires_grad for p in critic.parameters()))
    perturb, penalty = dragan.dragan_perturb, dragan.dragan_penalty

    def recorded_perturb(real, kind="original", c=10.0):
        kinds.append(kind)
        perturbed.append(perturb(real, kind, c))
        return perturbed[-1]

    def recorded_penalty(critic, points, k=1.0):
        penalised.append(points)
        return penalty(critic, points, k)
    monkeypatch.setattr(dragan, "dragan_perturb", recorded_perturb)
    monkeypatch.setattr(dragan, "dragan_penalty", recorded_penalty)
    dragan.main([*TOY, "--iters", "3", "--perturb", "improved", "--n-critic", "2", "--runs-dir", str(tmp_path)])
    assert frozen == [True] * 3 and kinds == ["improved"] * 6
    assert all(torch.equal(a, b) for a, b in zip(perturbed, penalised)) and len(penalised) == 6


def test_the_blog_schedule_gives_100_critic_steps_for_the_first_25_iterations_and_every_500th(tmp_path,
                                                                                              monkeypatch):
    calls, steps = [], []
    record(monkeypatch, wgangp, "critic_loss", calls, lambda *a, **k: len(steps))
    record(monkeypatch, wgangp, "generator_loss", steps, lambda *a, **k: None)
    wgangp.main(["--dataset", "8gaussians", "--schedule", "blog", "--iters", "502", "--width", "4", "--batch-size",
                 "4", "--eval-every", "502", "--eval-samples", "20", "--runs-dir", str(tmp_path)])
    per_iteration = np.bincount(calls, minlength=502)
    assert list(per_iteration[:26]) == [100] * 25 + [10]
    assert per_iteration[500] == 100 and per_iteration[499] == per_iteration[501] == 10
    assert per_iteration.sum() == 100 * 26 + 10 * (502 - 26)


def test_advas_r_tilde_takes_a_fresh_real_batch_and_advas_gradient_g_orig_first(tmp_path, monkeypatch):
    critic_reals, r_tilde_reals, nets, losses, checked = [], [], [], [], []
    record(monkeypatch, advas, "critic_loss", critic_reals, lambda critic, real, fake, **k: real.clone())
    record(monkeypatch, advas, "advas_r_tilde_fast", r_tilde_reals, lambda critic, real, *a, **k: real.clone())
    make_nets, generator_loss, advas_gradient = common.make_nets, advas.generator_loss, advas.advas_gradient
    monkeypatch.setattr(common, "make_nets", lambda *a, **k: nets.append(make_nets(*a, **k)) or nets[-1])

    def recorded_loss(*a, **k):
        loss, terms = generator_loss(*a, **k)
        losses.append(torch.autograd.grad(loss, list(nets[0][0].parameters()), retain_graph=True))
        return loss, terms

    def checked_gradient(g_orig, g_advas, fixed_lambda=None):  # g_orig must be grad L_G of this step's generator loss
        checked.append(all(torch.allclose(a, b) for a, b in zip(g_orig, losses[-1])))
        return advas_gradient(g_orig, g_advas, fixed_lambda)
    monkeypatch.setattr(advas, "generator_loss", recorded_loss)
    monkeypatch.setattr(advas, "advas_gradient", checked_gradient)
    advas.main(["--dataset", "8gaussians", "--iters", "3", "--n-critic", "1", "--width", "8", "--batch-size", "8",
                "--eval-every", "3", "--eval-samples", "20", "--runs-dir", str(tmp_path)])
    assert checked == [True] * 3
    for critic_real, r_tilde_real in zip(critic_reals, r_tilde_reals):
        assert not torch.equal(critic_real, r_tilde_real)  # a batch of its own: X and X' independent of L_G's
