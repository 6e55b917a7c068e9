"""FOGAN on text: First Order GAN (Seward et al. 2018, "First Order Generative Adversarial Networks"),
One Billion Word character model (the paper's Section 5.2 / Figure 3).

The critic minimises the First Order Penalized Wasserstein Divergence: a Wasserstein term, a penalty on the
Lipschitz quotient between each real sample and its perturbed generated partner, and a first-order term that
pulls ||grad f(x')|| to the target t_i the optimal critic would have. The generator sees x' = a x + (1 - a) G(z).

    python fogan_text.py --iters 100000 --data-root 1-billion-word-language-modeling-benchmark-r13output
    python fogan_text.py --width 128 --iters 2000          # embedded corpus, CPU, minutes
    python wgangp.py --dataset text ...                     # the paper's WGAN-GP baseline, same nets/optimisers
"""
import dataclasses
from typing import Optional

import torch

import common
from common import arg


@dataclasses.dataclass
class Args:
    dataset: str = arg("text", "data to learn (characters of 32-char lines)", choices=("text",))
    data_root: Optional[str] = arg(None, "One Billion Word folder (holding training-monolingual.tokenized.shuffled/); none: embedded corpus")
    iters: Optional[int] = arg(None, "generator iterations")
    batch_size: Optional[int] = arg(None, "batch size")
    n_critic: Optional[int] = arg(None, "critic steps per generator step")
    lam: Optional[float] = arg(None, "weight of the Lipschitz-quotient term (lambda)")
    mu: Optional[float] = arg(None, "weight of the first-order (gradient) term (mu)")
    max_alpha: Optional[float] = arg(None, "x' = a x + (1 - a) G(z), a ~ U[0, max_alpha]")
    lr_critic: Optional[float] = arg(None, "Adam learning rate of the critic")
    lr_generator: Optional[float] = arg(None, "Adam learning rate of the generator")
    beta1: Optional[float] = arg(None, "Adam beta1")
    beta2: Optional[float] = arg(None, "Adam beta2")
    width: Optional[int] = arg(None, "channels of the 1D-CNN ResNets")
    generator_batch_norm: Optional[bool] = arg(None, "batch norm in the generator's residual blocks")
    eval_every: Optional[int] = arg(None, "evaluate (n-gram JSD), write samples and a checkpoint every N iterations")
    eval_samples: Optional[int] = arg(None, "argmax samples per JSD evaluation (6400 on 1B Word)")
    seed: int = arg(1, "seed of python, numpy and torch")
    device: str = arg("auto", "cuda if available, else cpu")
    amp: str = arg("none", "bf16: nets in bfloat16 autocast (scores, norms, losses in float32)", choices=("none", "bf16"))
    runs_dir: str = arg("runs", "where run folders go")
    run_name: Optional[str] = arg(None, "run folder name (default: script__dataset__seed__time)")
    resume: Optional[str] = arg(None, "run folder to continue from its checkpoint.pt")


# The paper's settings (FOGAN code, One Billion Word).
DEFAULTS = dict(iters=100_000, batch_size=64, n_critic=1, lam=0.1, mu=1.0, max_alpha=0.01, lr_critic=3e-4,
                lr_generator=1e-4, beta1=0.5, beta2=0.9, width=512, generator_batch_norm=True, eval_every=2000)


def perturb_fake(real, fake, max_alpha=0.01):
    """x'_i = a_i x_i + (1 - a_i) g_i, a_i ~ U[0, max_alpha]: each generated sample nudged towards its real
    partner (FOGAN Sec. 6, the perturbed generated distribution P'). Paired with `real` row by row."""
    a = max_alpha * torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
    return a * real + (1 - a) * fake


@torch.no_grad()
def first_order_target(real, fake_perturbed, f_real, f_fake):
    """t_i = || mean_j (x_j - x'_i)(f(x_j) - f(x'_i)) / (||x_j - x'_i|| + 1e-6)^3 || / mean_j 1/(||x_j - x'_i|| + 1e-6),
    j over all real samples of the batch: the gradient norm of the optimal critic at x'_i
    (FOGAN Sec. 6: the gradient that makes Eq. 5 hold).
    A constant target (no gradient), vectorised with cdist: O(B^2 d)."""
    x, xp = real.flatten(1), fake_perturbed.flatten(1)
    distance = torch.cdist(xp, x) + 1e-6                                   # (i, j)
    weight = (f_real[None, :] - f_fake[:, None]) / distance ** 3          # (f(x_j) - f(x'_i)) / d_ij^3
    direction = weight @ x / len(x) - weight.mean(1, keepdim=True) * xp    # mean_j w_ij (x_j - x'_i)
    return (direction.norm(dim=1) / (1 / distance).mean(1)).clamp(min=0)


def fogan_critic_loss(critic, real, fake_perturbed, lam, mu):
    """The loss the critic minimises (FOGAN Sec. 6, the First Order Penalized Wasserstein Divergence).
    Returns (loss, its terms for logging)."""
    fake_perturbed = fake_perturbed.detach().requires_grad_(True)
    f_real, f_fake = critic(real), critic(fake_perturbed)  # two calls: grad f(x') then backprops through x' only
    wasserstein = f_fake.mean() - f_real.mean()                                         # E f(x') - E f(x)
    with torch.no_grad():
        distance = (real - fake_perturbed).flatten(1).norm(dim=1)
        close = distance < 1e-8                                                         # x' == x: no quotient
    quotient = (f_real - f_fake).pow(2) / torch.where(close, torch.ones_like(distance), distance)
    lipschitz = torch.where(close, torch.zeros_like(quotient), quotient).mean()         # (f(x)-f(x'))^2/||x-x'||
    (grad,) = torch.autograd.grad(f_fake.sum(), fake_perturbed, create_graph=True)
    target = first_order_target(real, fake_perturbed, f_real.detach(), f_fake.detach())
    first_order = (grad.flatten(1).norm(dim=1) - target).pow(2).mean()                  # (||grad f(x')|| - t)^2
    loss = wasserstein + lam * lipschitz + mu * first_order
    return loss, {"wasserstein": wasserstein, "lipschitz": lipschitz, "first_order": first_order}


def main(argv=None):
    args = common.parse_args(Args, argv, DEFAULTS)
    common.fill_defaults(args, DEFAULTS)
    rank = common.setup_distributed()  # under torchrun --nproc_per_node=N: one process per device
    run = common.Run("fogan_text", args)
    common.seed_everything(args.seed)
    device = common.pick_device(args.device, args.amp)

    # ---- data, nets, optimisers
    data = common.make_data(args.dataset, args.data_root, args.batch_size, device, args.seed + rank)
    generator, critic, z_dim = common.make_nets(data, width=args.width, generator_batch_norm=args.generator_batch_norm,
                                                amp=args.amp)
    generator, critic = common.distribute(generator, device), common.distribute(critic, device)
    common.seed_everything(args.seed + rank)  # the same initial weights on every rank, its own noise
    opt_generator = torch.optim.Adam(generator.parameters(), lr=args.lr_generator, betas=(args.beta1, args.beta2))
    opt_critic = torch.optim.Adam(critic.parameters(), lr=args.lr_critic, betas=(args.beta1, args.beta2))
    evaluate = common.Evaluator(data, run.dir, args.eval_samples, None, device)
    start = run.start(generator=generator, critic=critic, opt_generator=opt_generator, opt_critic=opt_critic,
                      data=data)

    for step in common.progress(start, args.iters):
        # ---- critic: minimise the First Order Penalized Wasserstein Divergence   (FOGAN Sec. 6)
        for _ in range(args.n_critic):
            real = data.next()
            with torch.no_grad():
                fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            critic_loss, terms = fogan_critic_loss(critic, real, perturb_fake(real, fake, args.max_alpha),
                                                   args.lam, args.mu)
            run.check_finite(step, critic_loss=critic_loss, lipschitz=terms["lipschitz"],
                             first_order=terms["first_order"])
            opt_critic.zero_grad(set_to_none=True)
            critic_loss.backward()
            opt_critic.step()

        # ---- generator: minimise -E f(x') on a fresh batch, x' = a x + (1 - a) G(z)   (FOGAN Sec. 6: updates through P')
        critic.requires_grad_(False)
        real = data.next()
        fake = generator(torch.randn(args.batch_size, z_dim, device=device))
        generator_loss = -critic(perturb_fake(real, fake, args.max_alpha)).mean()
        run.check_finite(step, generator_loss=generator_loss)
        opt_generator.zero_grad(set_to_none=True)
        generator_loss.backward()
        opt_generator.step()
        critic.requires_grad_(True)

        # ---- plumbing: evaluation + samples + checkpoint, Ctrl-C
        done = step + 1
        stop = run.stop_requested  # read once: one all-reduce under torchrun, and no signal between two reads
        if done % args.eval_every == 0 or done == args.iters or stop:
            run.log_metrics(done, {"wasserstein": round(-terms["wasserstein"].item(), 5),
                                   **evaluate(generator, critic, z_dim, done)})
            run.save(done, generator=generator, critic=critic, opt_generator=opt_generator,
                     opt_critic=opt_critic, data=data)
        if stop:
            break
    return run.dir


if __name__ == "__main__":
    common.run_cli(main)
