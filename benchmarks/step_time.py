"""Milliseconds per full training iteration (all critic steps + the generator step) of every method, on the current
device, through each script's real main(), next to two reference points measured in the same run:

  plain  the same WGAN-GP iteration written the way the popular ports write it: separate critic calls for real,
         fake and interpolates, data produced on the CPU each step, critic gradients computed in the generator step;
  floor  one critic forward + backward on one batch: no GAN iteration can cost less.

    python benchmarks/step_time.py                    # small CPU sizes and the papers' sizes
    python benchmarks/step_time.py --size small       # only the small sizes (a few minutes on 2 CPU cores)

A script's ms/iteration is (T(warm + n) - T(warm)) / n over whole main() runs that evaluate only at their end, so
start-up and the final evaluation cancel; the median over --repeats is printed.
"""
import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import advas  # noqa: E402
import common  # noqa: E402
import dragan  # noqa: E402
import fogan_celeba  # noqa: E402
import fogan_text  # noqa: E402
import slogan  # noqa: E402
import wgangp  # noqa: E402

# data kind -> size -> (flags shared by every method, batch size)
SIZES = {
    "toy": {"small": ["--dataset", "swissroll", "--width", "128"], "paper": ["--dataset", "swissroll", "--width", "512"]},
    "image": {"small": ["--dataset", "digits", "--image-size", "28", "--width", "32"],
              "paper": ["--dataset", "digits", "--image-size", "64", "--width", "64"]},
    "text": {"small": ["--dataset", "text", "--width", "64"], "paper": ["--dataset", "text", "--width", "512"]},
}
METHODS = {
    "toy": [("wgangp", wgangp, []), ("wgangp one-sided", wgangp, ["--one-sided"]),
            ("dragan (wgan, 5 critic)", dragan, ["--loss", "wgan", "--n-critic", "5"]),
            ("slogan v1", slogan, []), ("advas", advas, [])],
    "image": [("wgangp", wgangp, []), ("dragan (gan, 1 critic)", dragan, []), ("slogan v1", slogan, []),
              ("advas", advas, []), ("fogan_celeba (1 critic)", fogan_celeba, [])],
    "text": [("wgangp (1 critic)", wgangp, []), ("fogan_text (1 critic)", fogan_text, []),
             ("slogan v1", slogan, ["--n-critic", "1"]), ("advas", advas, ["--n-critic", "1"])],
}


def script_ms_per_iteration(module, flags, warm, n, repeats):
    def run(iters):
        with tempfile.TemporaryDirectory() as runs:
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                module.main(flags + ["--iters", str(iters), "--eval-every", str(iters), "--eval-samples", "64",
                                     "--runs-dir", runs, "--fid-weights", "none"] if module.__name__ != "fogan_text"
                            else flags[2:] + ["--iters", str(iters), "--eval-every", str(iters), "--eval-samples", "64",
                                              "--runs-dir", runs])
            return time.perf_counter() - start
    return statistics.median((run(warm + n) - run(warm)) / n * 1000 for _ in range(repeats))


def plain_and_floor(kind, size, device, n):
    """The popular-port WGAN-GP iteration and the floor, on the same nets and batch as the scripts."""
    args = common.parse_args(wgangp.Args, SIZES[kind][size])
    common.fill_defaults(args, wgangp.DEFAULTS[kind])
    data = common.make_data(args.dataset, None, args.batch_size, device, 0, args.image_size)
    generator, critic, z_dim = common.make_nets(data, width=args.width, generator_batch_norm=args.generator_batch_norm)
    generator, critic = generator.to(device), critic.to(device)
    opt_g = torch.optim.Adam(generator.parameters(), 1e-4, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), 1e-4, betas=(0.5, 0.9))
    cpu_items = data.items.cpu() if kind != "toy" else None

    def cpu_batch():  # data made on the CPU every step, then copied
        if kind == "toy":
            return data.next().cpu().to(device)
        index = torch.randint(len(cpu_items), (args.batch_size,))
        return data.convert(cpu_items[index]).cpu().to(device)

    def plain_iteration():
        for _ in range(args.n_critic):
            real = cpu_batch()
            fake = generator(torch.randn(args.batch_size, z_dim, device=device)).detach()
            d_real, d_fake = critic(real).mean(), critic(fake).mean()
            alpha = torch.rand(args.batch_size, *[1] * (real.dim() - 1), device=device)
            interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            out = critic(interpolates)
            grad = torch.autograd.grad(out, interpolates, grad_outputs=torch.ones_like(out), create_graph=True,
                                       retain_graph=True)[0]
            penalty = ((grad.view(grad.size(0), -1).norm(2, dim=1) - 1) ** 2).mean() * args.lam
            opt_c.zero_grad()
            (d_fake - d_real + penalty).backward()
            opt_c.step()
        opt_g.zero_grad()
        (-critic(generator(torch.randn(args.batch_size, z_dim, device=device))).mean()).backward()
        opt_g.step()

    def floor_iteration():
        opt_c.zero_grad()
        critic(data.next()).mean().backward()

    return time_loop(plain_iteration, device, n), time_loop(floor_iteration, device, n), args.n_critic


def time_loop(step, device, n, warm=3):
    for _ in range(warm):
        step()
    times = []
    for _ in range(n):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=("small", "paper", "both"), default="both")
    parser.add_argument("--kinds", default="toy,image,text")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = common.pick_device()
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")
    print("| data | size | method | ms/iter | samples/s | plain / method | method / floor |\n|---|---|---|---|---|---|---|")
    sizes = ("small", "paper") if args.size == "both" else (args.size,)
    for kind in args.kinds.split(","):
        for size in sizes:
            slow = size == "paper" and device.type == "cpu"
            n = 5 if slow else 30
            plain, floor, n_critic = plain_and_floor(kind, size, device, n)
            print(f"| {kind} | {size} | plain WGAN-GP ({n_critic} critic) | {plain:.1f} | | 1.00 | {plain / floor:.1f} |")
            print(f"| {kind} | {size} | floor (critic fwd+bwd) | {floor:.1f} | | | 1.0 |")
            for label, module, extra in METHODS[kind]:
                flags = SIZES[kind][size] + extra
                ms = script_ms_per_iteration(module, flags, warm=2 if slow else 10, n=n, repeats=args.repeats)
                batch = _defaults(module, kind)["batch_size"]
                print(f"| {kind} | {size} | {label} | {ms:.1f} | {batch * 1000 / ms:.0f} | {plain / ms:.2f} | "
                      f"{ms / floor:.1f} |", flush=True)


def _defaults(module, kind):
    return module.DEFAULTS[kind] if kind in getattr(module, "DEFAULTS", {}) else module.DEFAULTS


if __name__ == "__main__":
    with contextlib.redirect_stderr(io.StringIO()):  # the scripts' progress bars
        main()
