"""The fast paths keep the math: `--amp bf16` (bfloat16 autocast) and the concatenated critic call."""
import math

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
from test_methods import TINY, metrics


def bf16(x):
    return x.bfloat16().float()


def test_bf16_net_runs_body_in_bfloat16_and_the_score_in_float32():
    torch.manual_seed(0)
    hidden, head = nn.Linear(5, 4), nn.Linear(4, 1)
    net = common.Net(hidden, nn.ReLU(), head, nn.Flatten(0))
    net.bf16 = True
    x = torch.randn(3, 5)
    out = net(x)
    assert out.dtype == torch.float32
    # by hand: the hidden layer in bfloat16 (float32 accumulation, rounded output), the score layer in float32
    h = bf16(bf16(x) @ bf16(hidden.weight).T + bf16(hidden.bias)).relu()
    assert torch.allclose(out, h @ head.weight.T.squeeze(1) + head.bias, rtol=1e-6, atol=1e-6)
    net.bf16 = False
    assert not torch.allclose(net(x), out, rtol=1e-6, atol=1e-6)  # bfloat16 was really used


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


def test_critic_scores_one_call_equals_two_calls_and_batch_norm_keeps_two():
    torch.manual_seed(0)
    real, fake = torch.randn(5, 1, 28, 28), torch.randn(3, 1, 28, 28)
    critic = common.mnist_critic(width=4)
    f_real, f_fake = wgangp.critic_scores(critic, real, fake)
    assert torch.allclose(f_real, critic(real), atol=1e-6) and torch.allclose(f_fake, critic(fake), atol=1e-6)
    calls = []
    critic.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    wgangp.critic_scores(critic, real, fake)
    assert calls == [8]
    with_batch_norm = common.dcgan_critic(1, 32, width=4, norm="batch")
    real, fake = torch.randn(5, 1, 32, 32), 3 + torch.randn(3, 1, 32, 32)
    f_real, f_fake = wgangp.critic_scores(with_batch_norm, real, fake)
    assert torch.equal(f_real, with_batch_norm(real)) and torch.equal(f_fake, with_batch_norm(fake))  # own statistics
