"""SLOGAN: Single-sided Lipschitz Objective GAN (Lernapparat, "More Improved Training of Wasserstein GANs", 2017).

A WGAN critic whose Lipschitz constraint is penalised on the Lipschitz QUOTIENT |f(x) - f(y)| / ||x - y|| between
paired real and generated points, one-sided: only quotients above 1 cost. Variant 1 needs no input gradients at
all; variant 2 measures both halves of the segment through an interpolate. `--two-sided` is the WGAN-LP1/2 baseline.

    python slogan.py                                     # swiss roll on CPU, ~2 min, picture in runs/
    python slogan.py --dataset 25gaussians --variant 2
    python slogan.py --dataset text --data-root 1-billion-word-language-modeling-benchmark-r13output
    python slogan.py --dataset celeba --data-root img_align_celeba       # or mnist / cifar10 --data-root ROOT
"""
import dataclasses
from typing import Optional

import torch
import torch.nn.functional as F

import common
from common import arg


@dataclasses.dataclass
class Args:
    dataset: str = arg("swissroll", "data to learn", choices=common.DATASETS)
    data_root: Optional[str] = arg(None, "real data: CelebA / image folder, MNIST or CIFAR-10 root, One Billion Word folder")
    iters: Optional[int] = arg(None, "generator iterations")
    batch_size: Optional[int] = arg(None, "batch size")
    n_critic: Optional[int] = arg(None, "critic steps per generator step")
    lam: Optional[float] = arg(None, "Lipschitz-quotient penalty weight lambda")
    variant: int = arg(1, "1: quotient between the pairs (real_i, fake_i); 2: via an interpolate", choices=(1, 2))
    two_sided: bool = arg(False, "penalise (L - 1)^2 (WGAN-LP1/2, the baseline) instead of relu(L - 1)^2")
    lr_critic: Optional[float] = arg(None, "Adam learning rate of the critic")
    lr_generator: Optional[float] = arg(None, "Adam learning rate of the generator")
    beta1: Optional[float] = arg(None, "Adam beta1")
    beta2: Optional[float] = arg(None, "Adam beta2")
    width: Optional[int] = arg(None, "net width (MLP units, DCGAN base channels, text ResNet channels)")
    critic_norm: str = arg("none", "normalisation in the DCGAN critic", choices=("none", "layer", "batch"))
    generator_batch_norm: Optional[bool] = arg(None, "batch norm in the text generator's residual blocks")
    image_size: Optional[int] = arg(None, "image side (64 DCGAN, 32 DCGAN, 28 MNIST nets); default per dataset")
    eval_every: Optional[int] = arg(None, "evaluate, write samples and a checkpoint every N iterations")
    eval_samples: Optional[int] = arg(None, "samples per evaluation (toy 1000, text 6400, images 10000)")
    fid_weights: Optional[str] = arg(None, "pt_inception-2015-12-05-6726825d.pth for FID ('none': no FID)")
    fid_stats: Optional[str] = arg(None, "real-set FID statistics .npz (mu, sigma), e.g. TTUR's; default: computed, cached")
    seed: int = arg(1, "seed of python, numpy and torch")
    device: str = arg("auto", "cuda if available, else cpu")
    amp: str = arg("none", "bf16: nets in bfloat16 autocast (scores, norms, losses in float32)", choices=("none", "bf16"))
    runs_dir: str = arg("runs", "where run folders go")
    run_name: Optional[str] = arg(None, "run folder name (default: script__dataset__seed__time)")
    resume: Optional[str] = arg(None, "run folder to continue from its checkpoint.pt")


# The WGAN-GP settings per data kind, with the blog's lambda = 10 everywhere.
DEFAULTS = {
    "toy": dict(iters=800, batch_size=256, n_critic=5, lam=10.0, lr_critic=1e-4, lr_generator=1e-4,
                beta1=0.5, beta2=0.9, eval_every=200, generator_batch_norm=False),
    "image": dict(iters=200_000, batch_size=64, n_critic=5, lam=10.0, lr_critic=1e-4, lr_generator=1e-4,
                  beta1=0.5, beta2=0.9, eval_every=5000, generator_batch_norm=False),
    "text": dict(iters=200_000, batch_size=64, n_critic=1, lam=10.0, lr_critic=3e-4, lr_generator=1e-4,
                 beta1=0.5, beta2=0.9, eval_every=2000, generator_batch_norm=True),
}


def lipschitz_quotient_penalty(critic, real, fake, variant=1, one_sided=True, f_real=None, f_fake=None):
    """Penalty on Lipschitz quotients L = |f(x) - f(y)| / ||x - y|| (norm over the whole sample):
    variant 1: L_i between real_i and fake_i, mean relu(L_i - 1)^2;
    variant 2: x_hat = a real + (1 - a) fake, a ~ U[0, 1]; L1 = |f(fake) - f(x_hat)| / (a ||real - fake||),
    L2 = |f(real) - f(x_hat)| / ((1 - a) ||real - fake||); 0.5 (mean relu(L1 - 1)^2 + mean relu(L2 - 1)^2).
    two-sided (one_sided=False): (L - 1)^2 instead. f_real / f_fake: critic outputs already computed."""
    def cost(quotient):
        return (F.relu(quotient - 1) if one_sided else quotient - 1).pow(2).mean()
    f_real = critic(real) if f_real is None else f_real
    f_fake = critic(fake) if f_fake is None else f_fake
    distance = (real - fake).flatten(1).norm(dim=1)
    if variant == 1:
        return cost((f_real - f_fake).abs() / (distance + 1e-8))
    a = torch.rand(real.shape[0], device=real.device)
    a_per_sample = a.view(-1, *[1] * (real.dim() - 1))
    f_hat = critic(a_per_sample * real + (1 - a_per_sample) * fake)
    quotient_fake = (f_fake - f_hat).abs() / (a * distance + 1e-8)
    quotient_real = (f_real - f_hat).abs() / ((1 - a) * distance + 1e-8)
    return 0.5 * (cost(quotient_fake) + cost(quotient_real))


def main(argv=None):
    args = common.parse_args(Args, argv, DEFAULTS)
    common.fill_defaults(args, DEFAULTS[common.data_kind(args.dataset)])
    rank = common.setup_distributed()  # under torchrun --nproc_per_node=N: one process per device
    run = common.Run("slogan", args)
    common.seed_everything(args.seed)
    device = common.pick_device(args.device, args.amp)

    # ---- data, nets, optimisers
    data = common.make_data(args.dataset, args.data_root, args.batch_size, device, args.seed + rank, args.image_size)
    generator, critic, z_dim = common.make_nets(data, width=args.width, critic_norm=args.critic_norm,
                                                generator_batch_norm=args.generator_batch_norm, amp=args.amp)
    generator, critic = common.distribute(generator, device), common.distribute(critic, device)
    common.seed_everything(args.seed + rank)  # the same initial weights on every rank, its own noise
    opt_generator = torch.optim.Adam(generator.parameters(), lr=args.lr_generator, betas=(args.beta1, args.beta2))
    opt_critic = torch.optim.Adam(critic.parameters(), lr=args.lr_critic, betas=(args.beta1, args.beta2))
    evaluate = common.Evaluator(data, run.dir, args.eval_samples, args.fid_weights, device, args.fid_stats)
    start = run.start(generator=generator, critic=critic, opt_generator=opt_generator, opt_critic=opt_critic,
                      data=data)

    for step in common.progress(start, args.iters):
        # ---- critic: minimise E f(fake) - E f(real) + lam * quotient penalty   (WGAN objective, blog's SLOGAN)
        for _ in range(args.n_critic):
            real = data.next()
            with torch.no_grad():
                fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            f_real, f_fake = common.critic_scores(critic, real, fake)  # one call when no batch norm
            wasserstein = f_fake.mean() - f_real.mean()
            penalty = lipschitz_quotient_penalty(critic, real, fake, args.variant, not args.two_sided, f_real, f_fake)
            critic_loss = wasserstein + args.lam * penalty
            run.check_finite(step, critic_loss=critic_loss, penalty=penalty)
            opt_critic.zero_grad(set_to_none=True)
            critic_loss.backward()
            opt_critic.step()

        # ---- generator: minimise -E f(G(z))   (WGAN-GP Algorithm 1, lines 11-12)
        critic.requires_grad_(False)
        fake = generator(torch.randn(args.batch_size, z_dim, device=device))
        generator_loss = -critic(fake).mean()
        run.check_finite(step, generator_loss=generator_loss)
        opt_generator.zero_grad(set_to_none=True)
        generator_loss.backward()
        opt_generator.step()
        critic.requires_grad_(True)

        # ---- plumbing: evaluation + samples + checkpoint, Ctrl-C
        done = step + 1
        stop = run.stop_requested  # read once: one all-reduce under torchrun, and no signal between two reads
        if done % args.eval_every == 0 or done == args.iters or stop:
            run.log_metrics(done, {"wasserstein": round(-wasserstein.item(), 5), **evaluate(generator, critic, z_dim, done)})
            run.save(done, generator=generator, critic=critic, opt_generator=opt_generator,
                     opt_critic=opt_critic, data=data)
        if stop:
            break
    return run.dir


if __name__ == "__main__":
    common.run_cli(main)
