"""SLOGAN: Single-sided Lipschitz Objective GAN (Lernapparat, "More Improved Training of Wasserstein GANs", 2017).

A WGAN critic whose Lipschitz constraint is penalised on the Lipschitz QUOTIENT |f(x) - f(y)| / ||x - y|| between
paired real and generated points, one-sided: only quotients above 1 cost. Variant 1 needs no input gradients at
all; variant 2 measures both halves of the segment through an interpolate. `--two-sided` is the WGAN-LP1/2 baseline.

    python slogan.py                                     # swiss roll on CPU, ~2 min, picture in runs/
    python slogan.py --dataset swissroll --schedule blog --variant 1     # the Lernapparat notebook's setting
    python slogan.py --dataset celeba --data-root img_align_celeba       # or mnist / cifar10 --data-root ROOT
    python slogan.py --dataset text --data-root 1-billion-word-language-modeling-benchmark-r13output
"""
import dataclasses
from typing import Optional

import torch

import common
from common import arg


@dataclasses.dataclass
class Args:
    dataset: str = arg("swissroll", "data to learn", choices=common.DATASETS)
    data_root: Optional[str] = arg(None, "real data: CelebA / image folder, MNIST or CIFAR-10 root, One Billion Word folder")
    schedule: str = arg("paper", "paper: the settings below; blog: the Lernapparat notebook's toy setting", choices=("paper", "blog"))
    iters: Optional[int] = arg(None, "generator iterations")
    batch_size: Optional[int] = arg(None, "batch size")
    n_critic: Optional[int] = arg(None, "critic steps per generator step")
    lam: Optional[float] = arg(None, "Lipschitz-quotient penalty weight lambda")
    variant: int = arg(1, "1: quotient between the pairs (real_i, fake_i); 2: via an interpolate", choices=(1, 2))
    two_sided: bool = arg(False, "penalise (L - 1)^2 (WGAN-LP1/2, the baseline) instead of relu(L - 1)^2")
    optimizer: Optional[str] = arg(None, "adam (every paper) or rmsprop (the notebook)", choices=("adam", "rmsprop"))
    lr_critic: Optional[float] = arg(None, "learning rate of the critic")
    lr_generator: Optional[float] = arg(None, "learning rate of the generator")
    beta1: Optional[float] = arg(None, "Adam beta1")
    beta2: Optional[float] = arg(None, "Adam beta2")
    arch: Optional[str] = arg(None, "nets: toys mlp | mlp-leaky; 32/64 px images dcgan | resnet (64 px)", choices=common.ARCHS)
    width: Optional[int] = arg(None, "net width (MLP units, DCGAN/ResNet base channels, text ResNet channels)")
    critic_norm: str = arg("none", "normalisation in the DCGAN critic", choices=("none", "layer", "batch"))
    generator_batch_norm: Optional[bool] = arg(None, "batch norm in the text generator (FOGAN/TTUR's --batch_norm_g)")
    image_size: Optional[int] = arg(None, "image side (64 DCGAN, 32 DCGAN, 28 MNIST nets); default per dataset")
    fid_weights: Optional[str] = arg(None, "pytorch-fid's pt_inception-2015-12-05-6726825d.pth ('none': no FID; 'download')")
    fid_stats: Optional[str] = arg(None, "real-set FID statistics .npz (mu, sigma), e.g. TTUR's; default: computed, cached")


# The WGAN-GP settings per data kind with the blog's lambda = 10 everywhere. "blog": the Lernapparat notebook
# (RMSprop 5e-5, 10 critic steps, LeakyReLU MLPs, 5000 generator iterations, lambda 10).
DEFAULTS = {
    "toy": dict(width=512, iters=600, batch_size=256, n_critic=5, lam=10.0, optimizer="adam", lr_critic=1e-4,
                lr_generator=1e-4, beta1=0.5, beta2=0.9, arch="mlp", eval_every=150, generator_batch_norm=False),
    "blog": dict(width=512, iters=5000, batch_size=256, n_critic=10, lam=10.0, optimizer="rmsprop", lr_critic=5e-5,
                 lr_generator=5e-5, beta1=0.5, beta2=0.9, arch="mlp-leaky", eval_every=500,
                 generator_batch_norm=False),
    "image": dict(width=64, iters=200_000, batch_size=64, n_critic=5, lam=10.0, optimizer="adam", lr_critic=1e-4,
                  lr_generator=1e-4, beta1=0.5, beta2=0.9, arch="dcgan", eval_every=5000, generator_batch_norm=False),
    "text": dict(width=512, iters=500_000, batch_size=64, n_critic=1, lam=10.0, optimizer="adam", lr_critic=3e-4,
                 lr_generator=1e-4, beta1=0.5, beta2=0.9, eval_every=2000, generator_batch_norm=True),
    # without --data-root: the embedded corpus / 8x8 digits, a CPU-sized miniature of the paper setting
    "text embedded": dict(width=64, iters=600, eval_every=150, eval_samples=640),
    "image embedded": dict(width=16, iters=200, eval_every=50, eval_samples=1000),
}
PAPER = {"image": "python slogan.py --dataset celeba --data-root img_align_celeba"}  # the post has no text


# ---- the method: copy from here into your own code; it needs only `import torch` -------------------------------


def lipschitz_quotient_penalty(critic, real, fake, variant=1, one_sided=True, f_real=None, f_fake=None):
    """Penalty on Lipschitz quotients L = |f(x) - f(y)| / ||x - y|| (norm over the whole sample):
    variant 1: L_i between real_i and fake_i, mean relu(L_i - 1)^2;
    variant 2: x_hat = a real + (1 - a) fake, a ~ U[0, 1]; L1 = |f(fake) - f(x_hat)| / (a ||real - fake||),
    L2 = |f(real) - f(x_hat)| / ((1 - a) ||real - fake||); 0.5 (mean relu(L1 - 1)^2 + mean relu(L2 - 1)^2).
    two-sided (one_sided=False): (L - 1)^2 instead. f_real / f_fake: critic outputs already computed."""
    def cost(quotient):
        return (torch.relu(quotient - 1) if one_sided else quotient - 1).pow(2).mean()
    n = len(real)
    f_real = (critic(real) if f_real is None else f_real).reshape(n)  # (B,) whatever shape the critic returns
    f_fake = (critic(fake) if f_fake is None else f_fake).reshape(n)
    distance = (real - fake).flatten(1).norm(dim=1)
    if variant == 1:
        return cost((f_real - f_fake).abs() / (distance + 1e-8))
    a = torch.rand(n, device=real.device)
    a_per_sample = a.view(-1, *[1] * (real.dim() - 1))
    f_hat = critic(a_per_sample * real + (1 - a_per_sample) * fake).reshape(n)
    quotient_fake = (f_fake - f_hat).abs() / (a * distance + 1e-8)
    quotient_real = (f_real - f_hat).abs() / ((1 - a) * distance + 1e-8)
    return 0.5 * (cost(quotient_fake) + cost(quotient_real))


def critic_loss(critic, real, fake, *, lam=10.0, variant=1, one_sided=True):
    """The WGAN critic loss with SLOGAN's penalty: L = E f(fake) - E f(real) + lam * quotient penalty.
    Returns (L, terms); terms["w_distance"] is the critic's estimate E f(real) - E f(fake)."""
    f_real, f_fake = critic(real).reshape(len(real)), critic(fake).reshape(len(fake))  # any score shape -> (B,)
    w_distance = f_real.mean() - f_fake.mean()                 # E f(x) - E f(G(z)), the critic's W estimate
    penalty = lipschitz_quotient_penalty(critic, real, fake, variant, one_sided, f_real, f_fake)
    loss = -w_distance + lam * penalty                         # the WGAN loss + SLOGAN's quotient penalty
    return loss, {"critic_loss": loss, "w_distance": w_distance, "penalty": penalty}


def generator_loss(critic, real, fake):
    """The WGAN generator loss L_G = -E f(G(z)). (`real` is unused; every method file has this signature.)"""
    loss = -critic(fake).reshape(len(fake)).mean()
    return loss, {"generator_loss": loss}


# ---- end of the method ---------------------------------------------------------------------------------------


def main(argv=None):
    args = common.parse_args(Args, argv, DEFAULTS, about=__doc__)
    rank = common.setup_distributed()  # under torchrun --nproc_per_node=N: one process per device
    run = common.Run("slogan", args, PAPER)
    common.seed_everything(args.seed)
    device = common.pick_device(args.device, args.amp)

    # ---- data, nets, optimisers
    data = common.make_data(args.dataset, args.data_root, args.batch_size, device, args.seed + rank, args.image_size,
                            cache=args.cache_dir)
    generator, critic, z_dim = common.make_nets(data, width=args.width, critic_norm=args.critic_norm, arch=args.arch,
                                                generator_batch_norm=args.generator_batch_norm, amp=args.amp)
    generator, critic = common.distribute(generator, device), common.distribute(critic, device)
    common.seed_everything(args.seed + rank)  # the same initial weights on every rank, its own noise
    if args.optimizer == "rmsprop":  # the Lernapparat notebook (--schedule blog)
        opt_generator = torch.optim.RMSprop(generator.parameters(), lr=args.lr_generator)
        opt_critic = torch.optim.RMSprop(critic.parameters(), lr=args.lr_critic)
    else:  # Adam(alpha, beta1, beta2), as every paper here
        opt_generator = torch.optim.Adam(generator.parameters(), lr=args.lr_generator, betas=(args.beta1, args.beta2))
        opt_critic = torch.optim.Adam(critic.parameters(), lr=args.lr_critic, betas=(args.beta1, args.beta2))
    evaluate = common.Evaluator(data, run, generator, critic, z_dim, device, args.eval_samples,
                                args.fid_weights, args.fid_stats)
    start = run.start(generator=generator, critic=critic, opt_generator=opt_generator, opt_critic=opt_critic,
                      data=data, evaluate=evaluate)  # evaluate: a checkpoint whose row a kill lost

    for step in run.steps(start):  # progress bar, Ctrl-C / SIGTERM
        # ---- critic: minimise E f(fake) - E f(real) + lam * quotient penalty   (WGAN objective, blog's SLOGAN)
        # n_critic steps; the notebook (--schedule blog) takes 100 for the first 25 generator steps and every 500th
        n_critic = 100 if args.schedule == "blog" and (step < 25 or step % 500 == 0) else args.n_critic
        for _ in range(n_critic):
            real = data.next()
            with torch.no_grad():
                fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            loss, terms = critic_loss(critic, real, fake, lam=args.lam, variant=args.variant,
                                      one_sided=not args.two_sided)
            opt_critic.zero_grad(set_to_none=True)
            loss.backward()
            opt_critic.step()

        # ---- generator: minimise -E f(G(z))   (WGAN)
        critic.requires_grad_(False)
        fake = generator(torch.randn(args.batch_size, z_dim, device=device))
        loss, generator_terms = generator_loss(critic, real, fake)
        opt_generator.zero_grad(set_to_none=True)
        loss.backward()
        opt_generator.step()
        critic.requires_grad_(True)

        # ---- TensorBoard every --log-every; evaluation, samples, checkpoint every --eval-every
        done = step + 1
        run.log_train(done, {**terms, **generator_terms}, generator, critic)
        if run.checkpoint_due(done):  # every --eval-every and --checkpoint-minutes, a stop: first, before evaluating
            run.save(done, generator=generator, critic=critic, opt_generator=opt_generator,
                     opt_critic=opt_critic, data=data)
        run.log_metrics(done, evaluate)  # every --eval-every, the last iteration and a stop: metrics.csv, samples
    return run.dir


if __name__ == "__main__":
    common.run_cli(main)
