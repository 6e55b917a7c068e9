"""Ways to compute AdvAs's generator gradient g_AdvAs = d(X . X')/d theta (X, X' = grad_phi L_adv on the two
halves of the batch, fake = G_theta(z)), each checked equal to the definition in float64, then timed in float32
on the scripts' own nets (median of --repeats runs of n calls, generator forward included):

  definition  X and X' both with a graph, reverse-over-reverse through all of X . X'
  split       only the fake-dependent part of L_adv keeps a graph (the real term's gradient is a constant in
              theta): advas.py for critics that are not piecewise linear
  piecewise   what advas.py does for a piecewise-linear critic (ReLU-type, as the toy and text critics): only
              E f(fake) keeps a graph, the penalty's gradient is a constant too (no third-order pass)
  jvp         forward-over-reverse: X, X' without a graph, then d/dfake of the directional derivative
              <grad_phi L_fake, X'> = jvp of L in phi along X' (torch.func), one vector-Jacobian product into G
  vmap        jvp with both halves batched by torch.func.vmap (one call instead of two)
  directions  not a g_AdvAs: only X and X' (no graph), the two vectors every exact method has to compute, each
              an L_adv gradient with its penalty on half a batch: a floor for the others

    python benchmarks/advas_variants.py                      # toy (width 512) and text (width 64) on this device
    python benchmarks/advas_variants.py --kinds text --text-width 512 --n 1 --repeats 1 --no-check --iterations 0
    python benchmarks/advas_variants.py --kinds text --text-width 512 --no-variants --iterations 3 --repeats 2

A second table times the whole iteration of advas.py against wgangp.py with the same settings and critic steps
(step_time.py's method: (T(2 + N) - T(2)) / N through main(); the two scripts alternate, --repeats times, and
each repeat's ratio is printed); the toy at width 512 with 5 critic steps (its paper size) and at width 128 with
1, 2 (its no-flag demo) and 5, text at --text-width; --iterations 0 skips it. The two width-512 text commands take
~7 and ~17 minutes on one CPU thread.
"""
import argparse
import contextlib
import io
import os
import statistics
import sys

import torch
from torch.func import functional_call, grad, jvp, vmap

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import advas  # noqa: E402
import common  # noqa: E402
import step_time  # noqa: E402
import wgangp  # noqa: E402


def half_batch_gradients(critic, real, fake, gp_weight, create_graph):
    """X, X' = grad_phi L_adv on the two halves of the batch."""
    half = len(real) // 2
    return [torch.autograd.grad(advas.critic_loss(critic, r, f, gp_weight=gp_weight)[0], list(critic.parameters()),
                                create_graph=create_graph)
            for r, f in ((real[:half], fake[:half]), (real[half:], fake[half:]))]


def definition(critic, real, fake, gp_weight):
    x, x_prime = half_batch_gradients(critic, real, fake, gp_weight, create_graph=True)
    return sum((a * b).sum() for a, b in zip(x, x_prime))


def split(critic, real, fake, gp_weight):
    return advas.advas_r_tilde_fast(critic, real, fake, gp_weight)


def piecewise(critic, real, fake, gp_weight):
    assert advas.is_piecewise_linear(critic)
    return advas.advas_r_tilde_fast(critic, real, fake, gp_weight, piecewise_linear=True)


def functional_losses(critic, gp_weight):
    """L_adv's fake-dependent part and the whole L_adv as functions of (critic params, real, fake, eps)."""
    def score(params, x):
        return functional_call(critic, params, (x,)).reshape(len(x))

    def fake_part(params, real, fake, eps):  # E f(fake) + gp_weight * penalty   (WGAN-GP eq. 3)
        loss = score(params, fake).mean()
        if gp_weight:
            x_hat = real + eps * (fake - real)
            slope = grad(lambda x: score(params, x).sum())(x_hat).flatten(1).norm(dim=1)
            loss = loss + gp_weight * (slope - 1).pow(2).mean()
        return loss

    return fake_part, lambda params, real, fake, eps: fake_part(params, real, fake, eps) - score(params, real).mean()


def half_eps(real):
    """The two halves' interpolation draws, in the order gradient_penalty draws them."""
    half = len(real) // 2
    return [torch.rand(n, *[1] * (real.dim() - 1), device=real.device).to(real.dtype)
            for n in (half, len(real) - half)]


def jvp_fake_gradient(critic, real, fake, gp_weight):
    """d r_tilde / d fake (the caller backpropagates it into G): no r_tilde value is formed."""
    fake_part, l_adv = functional_losses(critic, gp_weight)
    params = {n: p.detach() for n, p in critic.named_parameters()}
    half = len(real) // 2
    halves = [(real[:half], fake[:half].detach()), (real[half:], fake[half:].detach())]
    eps = half_eps(real) if gp_weight else [None, None]
    x = [grad(l_adv)(params, r, f, e) for (r, f), e in zip(halves, eps)]

    def directional(fake, real, eps, along):  # <grad_phi L_fake(fake), along>
        return jvp(lambda p: fake_part(p, real, fake, eps), (params,), (along,))[1]

    return torch.cat([grad(directional)(f, r, e, x[1 - i]) for i, ((r, f), e) in enumerate(zip(halves, eps))])


def vmap_fake_gradient(critic, real, fake, gp_weight):
    fake_part, l_adv = functional_losses(critic, gp_weight)
    params = {n: p.detach() for n, p in critic.named_parameters()}
    half = len(real) // 2
    reals, fakes = real.reshape(2, half, *real.shape[1:]), fake.detach().reshape(2, half, *fake.shape[1:])
    eps = torch.stack(half_eps(real)) if gp_weight else torch.zeros(2, half, *[1] * (real.dim() - 1))
    x = vmap(grad(l_adv), in_dims=(None, 0, 0, 0))(params, reals, fakes, eps)
    along = {k: v.flip(0) for k, v in x.items()}  # half 1 along X', half 2 along X

    def directional(real, fake, eps, along):
        return jvp(lambda p: fake_part(p, real, fake, eps), (params,), (along,))[1]

    return vmap(grad(directional, argnums=1))(reals, fakes, eps, along).reshape(fake.shape)


def generator_gradient(variant, generator, critic, z, real, gp_weight):
    params = list(generator.parameters())
    fake = generator(z)
    if variant == "directions":
        return half_batch_gradients(critic, real, fake.detach(), gp_weight, create_graph=False)
    if variant in R_TILDE:
        return torch.autograd.grad(R_TILDE[variant](critic, real, fake, gp_weight), params)
    fake_gradient = {"jvp": jvp_fake_gradient, "vmap": vmap_fake_gradient}[variant](critic, real, fake, gp_weight)
    return torch.autograd.grad(fake, params, fake_gradient)


R_TILDE = {"definition": definition, "split": split, "piecewise": piecewise}
GRADIENTS = (*R_TILDE, "jvp", "vmap")  # the ways to compute g_AdvAs, each checked against the definition
VARIANTS = (*GRADIENTS, "directions")


def whole_iteration_settings(text_width):
    """(kind, name, flags), the same flags for wgangp.py and advas.py: the toy at its paper size, the toy at the
    study's width 128 with 1, 2 (the no-flag demo) and 5 critic steps, text at `text_width` with FOGAN's one."""
    toy = [("toy", "toy, width 512, 5 critic steps", ["--dataset", "swissroll", "--width", "512", "--n-critic", "5"])]
    toy += [("toy", f"toy, width 128, {n} critic step{'s' * (n > 1)}",
             ["--dataset", "swissroll", "--width", "128", "--n-critic", str(n)]) for n in (1, 2, 5)]
    return toy + [("text", f"text, width {text_width}, 1 critic step",
                   ["--dataset", "text", "--width", str(text_width), "--n-critic", "1"])]


def nets(kind, width, device, dtype):
    torch.manual_seed(0)
    flags = ["--dataset", "swissroll"] if kind == "toy" else ["--dataset", "text"]
    with contextlib.redirect_stdout(io.StringIO()):  # parse_args's line on the paper's setting
        args = common.parse_args(advas.Args, flags + ["--width", str(width)], advas.DEFAULTS)
    data = common.make_data(args.dataset, None, args.batch_size, device, 0, None)
    generator, critic, z_dim = common.make_nets(data, width=width, generator_batch_norm=args.generator_batch_norm)
    generator, critic = generator.to(device, dtype), critic.to(device, dtype)
    real = data.next().to(dtype)
    return generator, critic, torch.randn(args.batch_size, z_dim, device=device, dtype=dtype), real, args.gp_weight


def relative_errors(kind, width, device):
    """Each variant against the definition, float64, with and without the GP in L_adv."""
    generator, critic, z, real, _ = nets(kind, width, device, torch.float64)
    errors = {}
    for gp_weight in (10.0, 0.0):
        results = {}
        for variant in GRADIENTS:
            torch.manual_seed(1)  # the same interpolation draws for every variant
            results[variant] = generator_gradient(variant, generator, critic, z, real, gp_weight)
        reference = results["definition"]
        size = torch.sqrt(sum((g ** 2).sum() for g in reference))
        for variant, result in results.items():
            difference = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(result, reference)))
            errors[variant, gp_weight] = (difference / size).item()
    return errors


def milliseconds(variant, kind, width, device, n, repeats):
    generator, critic, z, real, gp_weight = nets(kind, width, device, torch.float32)
    return statistics.median(step_time.time_loop(
        lambda: generator_gradient(variant, generator, critic, z, real, gp_weight), device, n, warm=1)
        for _ in range(repeats))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default="toy,text")
    parser.add_argument("--toy-width", type=int, default=512)
    parser.add_argument("--text-width", type=int, default=64)
    parser.add_argument("--n", type=int, default=5, help="calls per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10, help="iterations per whole-iteration timing (0: skip)")
    parser.add_argument("--no-variants", action="store_true", help="only the whole-iteration table")
    parser.add_argument("--no-check", action="store_true", help="time the variants without the float64 check")
    args = parser.parse_args(argv)
    device = common.pick_device()
    print(f"device: {device}, {torch.get_num_threads()} threads; torch {torch.__version__}")
    kinds = args.kinds.split(",")
    print("| data | width | variant | rel. error GP / no GP (float64) | ms per g_AdvAs (float32) | / definition |")
    print("|---|---|---|---|---|---|")
    for kind in [] if args.no_variants else kinds:
        width = args.toy_width if kind == "toy" else args.text_width
        errors = {} if args.no_check else relative_errors(kind, width, device)
        ms = {v: milliseconds(v, kind, width, device, args.n, args.repeats) for v in VARIANTS}
        for variant in VARIANTS:
            error = (f"{errors[variant, 10.0]:.1e} / {errors[variant, 0.0]:.1e}" if (variant, 0.0) in errors
                     else "-")
            print(f"| {kind} | {width} | {variant} | {error} | "
                  f"{ms[variant]:.1f} | {ms[variant] / ms['definition']:.2f} |", flush=True)
    if args.iterations:
        print("\n| setting | WGAN-GP ms/iter | AdvAs ms/iter | AdvAs / WGAN-GP (per repeat) |\n|---|---|---|---|")
        for kind, name, flags in whole_iteration_settings(args.text_width):
            if kind not in kinds:
                continue
            ms = [[step_time.script_ms_per_iteration(module, flags, warm=2, n=args.iterations, repeats=1)
                   for module in (wgangp, advas)] for _ in range(args.repeats)]  # alternating, so drift hits both
            wgan, adv = (statistics.median(m[i] for m in ms) for i in (0, 1))
            ratios = ", ".join(f"{a / w:.2f}" for w, a in ms)
            print(f"| {name} | {wgan:.1f} | {adv:.1f} | {ratios} |", flush=True)


if __name__ == "__main__":
    main()
