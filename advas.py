"""AdvAs: the adversary's assistant (Munk, Harvey & Wood 2021, "Assisting the Adversary to Improve GAN Training"),
on top of WGAN-GP.

The critic step is WGAN-GP's, unchanged. The generator step adds the gradient of an unbiased estimate of
r = ||grad_phi L_adv||^2, the norm of the critic's own training gradient: the generator is pushed towards points
where the current critic is already optimal. The scale needs no hyperparameter: lam = min(1, ||g_orig|| / ||g_advas||).

    python advas.py                                      # 25 gaussians on CPU, minutes; --no-advas is WGAN-GP
    python advas.py --dataset mnist --data-root ROOT     # the paper's MNIST experiment (WGAN-GP's MNIST nets)
    python advas.py --dataset celeba --data-root img_align_celeba
"""
import dataclasses
from typing import Optional

import torch
import torch.nn.functional as F

import common
from common import arg


@dataclasses.dataclass
class Args:
    dataset: str = arg("25gaussians", "data to learn", choices=common.DATASETS)
    data_root: Optional[str] = arg(None, "real data: CelebA / image folder, MNIST or CIFAR-10 root, One Billion Word folder")
    iters: Optional[int] = arg(None, "generator iterations")
    batch_size: Optional[int] = arg(None, "batch size")
    n_critic: Optional[int] = arg(None, "critic steps per generator step")
    lam: Optional[float] = arg(None, "gradient penalty weight lambda")
    advas: bool = arg(True, "add the AdvAs term to the generator's gradient (--no-advas: plain WGAN-GP)")
    advas_gp: bool = arg(True, "include the critic's gradient penalty in L_adv (third-order autograd)")
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


# Paper settings per data kind (WGAN-GP reference code; text: the TTUR/FOGAN baseline, see README).
DEFAULTS = {
    "toy": dict(iters=800, batch_size=256, n_critic=5, lam=0.1, lr_critic=1e-4, lr_generator=1e-4,
                beta1=0.5, beta2=0.9, eval_every=200, generator_batch_norm=False),
    "image": dict(iters=200_000, batch_size=64, n_critic=5, lam=10.0, lr_critic=1e-4, lr_generator=1e-4,
                  beta1=0.5, beta2=0.9, eval_every=5000, generator_batch_norm=False),
    "text": dict(iters=200_000, batch_size=64, n_critic=1, lam=10.0, lr_critic=3e-4, lr_generator=1e-4,
                 beta1=0.5, beta2=0.9, eval_every=2000, generator_batch_norm=True),
}


def gradient_penalty(critic, real, fake, one_sided=False):
    """mean (||grad_x f(x_hat)|| - 1)^2 at x_hat = real + eps (fake - real), eps ~ U[0, 1] per sample
    (WGAN-GP eq. 3); one-sided: mean relu(||grad|| - 1)^2 (WGAN-LP). The norm is over the whole sample."""
    eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
    interpolates = (real + eps * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(interpolates).sum(), interpolates, create_graph=True)
    slope = grad.flatten(1).norm(dim=1)
    return (F.relu(slope - 1) if one_sided else slope - 1).pow(2).mean()


def critic_objective(critic, real, fake, gp_weight):
    """L_adv: the loss the critic minimises, E f(fake) - E f(real) + gp_weight * penalty (WGAN-GP eq. 3)."""
    f_real, f_fake = common.critic_scores(critic, real, fake)
    loss = f_fake.mean() - f_real.mean()
    return loss + gp_weight * gradient_penalty(critic, real, fake) if gp_weight else loss


def advas_r_tilde(critic, real, fake, gp_weight):
    """Unbiased estimate of r = ||grad_phi L_adv||^2: X . X' with X, X' the critic-parameter gradients of L_adv on
    two independent halves of the batch (AdvAs, "unbiased estimate": E[X.X'] = ||E X||^2, while ||X||^2 is
    biased up by the minibatch variance).
    Differentiable w.r.t. `fake`, hence w.r.t. the generator."""
    if len(real) != len(fake) or len(real) < 2 or len(real) % 2:
        raise common.UserError(f"AdvAs splits the batch into two halves: --batch-size must be even, got {len(real)}")
    half = len(real) // 2
    params = [p for p in critic.parameters() if p.requires_grad]
    halves = ((real[:half], fake[:half]), (real[half:], fake[half:]))
    x, x_prime = [torch.autograd.grad(critic_objective(critic, r, f, gp_weight), params, create_graph=True,
                                      allow_unused=True) for r, f in halves]
    return sum((a * b).sum() for a, b in zip(x, x_prime) if a is not None and b is not None)


def advas_lambda(g_orig, g_advas):
    """min(1, ||g_orig|| / ||g_advas||), global norms over all generator parameters
    (AdvAs, "removing the hyperparameter lambda")."""
    norm_orig = torch.sqrt(sum(g.pow(2).sum() for g in g_orig))
    norm_advas = torch.sqrt(sum(g.pow(2).sum() for g in g_advas))
    return torch.clamp(norm_orig / norm_advas.clamp(min=1e-30), max=1.0)


def main(argv=None):
    args = common.parse_args(Args, argv, DEFAULTS)
    common.fill_defaults(args, DEFAULTS[common.data_kind(args.dataset)])
    if common.world_size() > 1:
        common.fail("advas.py runs on one device: its generator step takes parameter gradients with autograd.grad, "
                    "which DistributedDataParallel does not average")
    if args.advas and args.batch_size % 2:
        common.fail(f"AdvAs splits the batch into two halves: --batch-size must be even, got {args.batch_size}")
    rank = common.setup_distributed()  # under torchrun --nproc_per_node=N: one process per device
    run = common.Run("advas", args)
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
        # ---- critic: minimise E f(fake) - E f(real) + lam * penalty   (WGAN-GP eq. 3)
        for _ in range(args.n_critic):
            real = data.next()
            with torch.no_grad():
                fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            f_real, f_fake = common.critic_scores(critic, real, fake)  # one call when no batch norm
            wasserstein = f_fake.mean() - f_real.mean()
            penalty = gradient_penalty(critic, real, fake)
            critic_loss = wasserstein + args.lam * penalty
            run.check_finite(step, critic_loss=critic_loss, penalty=penalty)
            opt_critic.zero_grad(set_to_none=True)
            critic_loss.backward()
            opt_critic.step()

        # ---- generator: g = grad L_gen + lam * grad r_tilde, L_gen = -E f(G(z))   (AdvAs: g_total = g_orig + lambda g_AdvAs)
        fake = generator(torch.randn(args.batch_size, z_dim, device=device))
        generator_loss = -critic(fake).mean()
        run.check_finite(step, generator_loss=generator_loss)
        params = list(generator.parameters())
        g_orig = torch.autograd.grad(generator_loss, params, retain_graph=args.advas)
        if args.advas:
            r_tilde = advas_r_tilde(critic, data.next(), fake, args.lam if args.advas_gp else 0.0)
            g_advas = [g if g is not None else torch.zeros_like(p) for g, p in
                       zip(torch.autograd.grad(r_tilde, params, allow_unused=True), params)]
            lam = advas_lambda(g_orig, g_advas)
            for p, g, a in zip(params, g_orig, g_advas):
                p.grad = g + lam * a
        else:
            for p, g in zip(params, g_orig):
                p.grad = g
        opt_generator.step()

        # ---- plumbing: evaluation + samples + checkpoint, Ctrl-C
        done = step + 1
        stop = run.stop_requested  # read once: one all-reduce under torchrun, and no signal between two reads
        if done % args.eval_every == 0 or done == args.iters or stop:
            extra = {"r_tilde": round(r_tilde.item(), 6), "advas_lambda": round(lam.item(), 5)} if args.advas else {}
            run.log_metrics(done, {"wasserstein": round(-wasserstein.item(), 5), **extra,
                                   **evaluate(generator, critic, z_dim, done)})
            run.save(done, generator=generator, critic=critic, opt_generator=opt_generator,
                     opt_critic=opt_critic, data=data)
        if stop:
            break
    return run.dir


if __name__ == "__main__":
    common.run_cli(main)
