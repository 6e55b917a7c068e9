"""The fast paths we tried on one WGAN-GP iteration (5 or 1 critic steps + the generator step), outside the
scripts so each variant differs in one thing only; ms per iteration, median of 3 runs of n iterations:

  sep      three critic calls: fake, real, interpolates (what the scripts do)
  cat2     one call on cat(real, fake), one on the interpolates
  cat3     one call on cat(real, fake, interpolates), input gradient taken on the interpolate rows
  _cl      channels-last convolutions        _bf16    bfloat16 autocast
  _fused   Adam(fused=True)                  _foreach Adam(foreach=True)

    python benchmarks/critic_step_variants.py toy sep,cat2,cat3,sep_fused,sep_foreach 40
    python benchmarks/critic_step_variants.py image sep,cat2,cat3,sep_cl,sep_bf16,sep_fused 10
    python benchmarks/critic_step_variants.py text sep,cat2,cat3,sep_bf16 10
"""
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import common  # noqa: E402
import wgangp  # noqa: E402

FLAGS = {"toy": ["--dataset", "swissroll", "--width", "128"],
         "image": ["--dataset", "digits", "--image-size", "28", "--width", "32"],
         "text": ["--dataset", "text", "--width", "64"]}


def ms_per_iteration(variant, args, data, n):
    torch.manual_seed(0)
    generator, critic, z_dim = common.make_nets(data, width=args.width, generator_batch_norm=args.generator_batch_norm)
    channels_last = "cl" in variant
    if channels_last:
        generator, critic = generator.to(memory_format=torch.channels_last), critic.to(memory_format=torch.channels_last)
    adam = {"fused": True} if "fused" in variant else {"foreach": True} if "foreach" in variant else {}
    opt_critic = torch.optim.Adam(critic.parameters(), 1e-4, betas=(0.5, 0.9), **adam)
    opt_generator = torch.optim.Adam(generator.parameters(), 1e-4, betas=(0.5, 0.9), **adam)
    autocast = torch.autocast("cpu", torch.bfloat16, enabled="bf16" in variant)
    batch = args.batch_size

    def critic_step():
        real = data.next()
        if channels_last and real.dim() == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), autocast:
            fake = generator(torch.randn(batch, z_dim)).float()
        eps = torch.rand(batch, *[1] * (real.dim() - 1))
        interpolates = (real + eps * (fake - real)).requires_grad_(True)
        with autocast:
            if variant.startswith("cat3"):
                scores = critic(torch.cat([real, fake, interpolates])).float()
                (grad,) = torch.autograd.grad(scores[2 * batch:].sum(), interpolates, create_graph=True)
                wasserstein = scores[batch:2 * batch].mean() - scores[:batch].mean()
            else:
                if variant.startswith("cat2"):
                    scores = critic(torch.cat([real, fake])).float()
                    wasserstein = scores[batch:].mean() - scores[:batch].mean()
                else:
                    wasserstein = critic(fake).float().mean() - critic(real).float().mean()
                (grad,) = torch.autograd.grad(critic(interpolates).float().sum(), interpolates, create_graph=True)
        penalty = (grad.float().flatten(1).norm(dim=1) - 1).pow(2).mean()
        opt_critic.zero_grad(set_to_none=True)
        (wasserstein + args.lam * penalty).backward()
        opt_critic.step()

    def iteration():
        for _ in range(args.n_critic):
            critic_step()
        critic.requires_grad_(False)
        with autocast:
            generator_loss = -critic(generator(torch.randn(batch, z_dim))).float().mean()
        opt_generator.zero_grad(set_to_none=True)
        generator_loss.backward()
        opt_generator.step()
        critic.requires_grad_(True)

    for _ in range(3):
        iteration()
    start = time.perf_counter()
    for _ in range(n):
        iteration()
    return (time.perf_counter() - start) / n * 1000


def main():
    kind, variants = sys.argv[1], sys.argv[2].split(",")
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    args = common.parse_args(wgangp.Args, FLAGS[kind], wgangp.DEFAULTS)
    data = common.make_data(args.dataset, None, args.batch_size, torch.device("cpu"), 0, args.image_size)
    times = {v: [] for v in variants}
    for _ in range(3):  # interleaved, so drifts of the machine hit every variant alike
        for v in variants:
            times[v].append(ms_per_iteration(v, args, data, n))
    for v in variants:
        print(f"{kind} {v}: {statistics.median(times[v]):.1f} ms/iter  (runs: {', '.join(f'{t:.1f}' for t in times[v])})")


if __name__ == "__main__":
    main()
