"""Milliseconds per full training iteration (all critic steps + the generator step) of every method, on the current
device, through each script's real main(), in float32 and with `--amp bf16`, next to two reference points measured
in the same run:

  plain  the same WGAN-GP iteration written the way the popular ports write it, in float32: separate critic calls
         for real, fake and interpolates, data produced on the CPU each step, critic gradients computed in the
         generator step;
  floor  one critic forward + backward on one batch (float32): no GAN iteration can cost less.

    python benchmarks/step_time.py                    # small CPU sizes and the papers' sizes
    python benchmarks/step_time.py --size small       # only the small sizes (~10 minutes on 2 CPU cores)
    python benchmarks/step_time.py --amp none         # float32 only
    python benchmarks/step_time.py --only wgangp,advas --kinds toy,text   # some scripts, some data kinds

A script's ms/iteration is (T(warm + n) - T(warm)) / n over whole main() runs that evaluate only at their end, so
start-up and the final evaluation cancel (one untimed run first loads what the scripts import lazily); the plain
and floor loops are timed the same way, total time over n iterations after warm-up; the median over --repeats
is printed.
"""
import argparse
import contextlib
import io
import os
import platform
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
            ("dragan wgan", dragan, ["--loss", "wgan", "--n-critic", "5"]),
            ("slogan v1", slogan, []), ("advas", advas, ["--n-critic", "5"])],
    "image": [("wgangp", wgangp, []), ("wgangp", wgangp, ["--n-critic", "1"]),
              ("fogan_celeba", fogan_celeba, []), ("dragan gan", dragan, []),
              ("slogan v1", slogan, []), ("advas", advas, [])],
    "text": [("wgangp", wgangp, []), ("fogan_text", fogan_text, []),
             ("slogan v1", slogan, ["--n-critic", "1"]), ("advas", advas, ["--n-critic", "1"])],
}


def script_ms_per_iteration(module, flags, warm, n, repeats):
    def run(iters):
        common_flags = ["--iters", str(iters), "--eval-every", str(iters), "--eval-samples", "64"]
        with tempfile.TemporaryDirectory() as runs:
            argv = (flags[2:] if module is fogan_text else flags + ["--fid-weights", "none"]) + common_flags
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                module.main(argv + ["--runs-dir", runs])
            return time.perf_counter() - start
    run(1)  # untimed: lazy imports, allocator warm-up
    return statistics.median((run(warm + n) - run(warm)) / n * 1000 for _ in range(repeats))


def plain_and_floor(kind, flags, device, n, repeats, n_critics):
    """The popular-port WGAN-GP iteration (for each critic-step count in n_critics) and the floor, on the nets
    and batch the scripts build from `flags` (SIZES[kind][size])."""
    with contextlib.redirect_stdout(io.StringIO()):  # parse_args's line on the paper's setting
        args = common.parse_args(wgangp.Args, flags, wgangp.DEFAULTS)
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

    def plain_iteration(n_critic):
        for _ in range(n_critic):
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

    plain = {k: statistics.median(time_loop(lambda: plain_iteration(k), device, n) for _ in range(repeats))
             for k in n_critics}
    return plain, statistics.median(time_loop(floor_iteration, device, n) for _ in range(repeats))


def time_loop(step, device, n, warm=3):
    """ms per call: total time of n calls after warm-up (as the scripts are timed)."""
    for _ in range(warm):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n * 1000


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name()
    model = platform.processor() or "CPU"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    return f"{model}, {torch.get_num_threads()} threads"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=("small", "paper", "both"), default="both")
    parser.add_argument("--kinds", default="toy,image,text")
    parser.add_argument("--amp", default="none,bf16", help="precisions of the scripts' runs: none, bf16 or both")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="comma-separated scripts to time (e.g. wgangp,advas); default: all")
    args = parser.parse_args()
    device = common.pick_device()
    amps = args.amp.split(",")
    print(f"device: {device_name(device)}; torch {torch.__version__}")
    columns = [f"{'fp32' if amp == 'none' else amp} ms/iter" for amp in amps] + ["samples/s"] + \
              [f"plain / {'fp32' if amp == 'none' else amp}" for amp in amps] + ["fp32 / floor"]
    print("| data | size | method | " + " | ".join(columns) + " |\n|---|---|---|" + "---|" * len(columns))
    sizes = ("small", "paper") if args.size == "both" else (args.size,)
    for kind in args.kinds.split(","):
        for size in sizes:
            slow = size == "paper" and device.type == "cpu"
            n = 5 if slow else 30
            methods = [m for m in METHODS[kind] if not args.only or m[1].__name__ in args.only.split(",")]
            n_critics = [n_critic_of(module, kind, extra) for _, module, extra in methods]
            plain, floor = plain_and_floor(kind, SIZES[kind][size], device, n, args.repeats, sorted(set(n_critics)))
            none = [""] * (len(amps) - 1)
            for k, ms in plain.items():
                row(kind, size, f"plain WGAN-GP ({k} critic), fp32", [f"{ms:.1f}", *none, "", "1.00", *none,
                                                                    f"{ms / floor:.1f}"])
            row(kind, size, "floor (critic fwd+bwd), fp32", [f"{floor:.1f}", *none, "", "", *none, "1.0"])
            for (label, module, extra), n_critic in zip(methods, n_critics):
                ms = [script_ms_per_iteration(module, SIZES[kind][size] + extra + ["--amp", amp],
                                              warm=2 if slow else 10, n=n, repeats=args.repeats) for amp in amps]
                batch = _defaults(module, kind)["batch_size"]
                reference = plain[n_critic]  # the plain step with as many critic steps
                row(kind, size, f"{label} ({n_critic} critic)", [f"{m:.1f}" for m in ms] +
                    [f"{batch * 1000 / min(ms):.0f}"] + [f"{reference / m:.2f}" for m in ms] + [f"{ms[0] / floor:.1f}"])


def n_critic_of(module, kind, flags):
    return int(flags[flags.index("--n-critic") + 1]) if "--n-critic" in flags else _defaults(module, kind)["n_critic"]


def row(*cells):
    print("| " + " | ".join(str(c) for c in [*cells[:-1], *cells[-1]]) + " |", flush=True)


def _defaults(module, kind):
    return module.DEFAULTS[kind] if kind in getattr(module, "DEFAULTS", {}) else module.DEFAULTS


if __name__ == "__main__":
    with contextlib.redirect_stderr(io.StringIO()):  # the scripts' progress bars
        main()
