"""DRAGAN: gradient penalty near the real data only (Kodali et al. 2017, "On Convergence and Stability of GANs").

The penalty (||grad f(x_tilde)|| - k)^2 sits at perturbed REAL points instead of real-fake interpolates. The
perturbation comes in the variants in use (`--perturb`): the reference notebook's positive noise with one scalar
std (original), the paper's N(0, cI) (paper), Lernapparat's per-coordinate std (improved), and none at all, the
penalty right on the data (prod, PRODGAN). `--loss gan` (the paper's) penalises the logit; `--loss wgan` is
WGAN-DRA.

    python dragan.py                                     # swiss roll on CPU, ~3 min (WGAN-DRA), picture in runs/
    python dragan.py --dataset swissroll --schedule blog --perturb original --loss wgan   # the notebook's setting
    python dragan.py --dataset celeba --data-root img_align_celeba       # or mnist / cifar10 --data-root ROOT
    python dragan.py --dataset text --data-root 1-billion-word-language-modeling-benchmark-r13output
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
    lam: Optional[float] = arg(None, "gradient penalty weight lambda")
    perturb: str = arg("original", "where near the data to penalise", choices=("original", "paper", "improved", "prod"))
    c: float = arg(10.0, "variance of the paper's perturbation N(0, cI) (--perturb paper)")
    k: float = arg(1.0, "target gradient norm")
    loss: Optional[str] = arg(None, "gan: BCE on logits (the DRAGAN paper); wgan: Wasserstein critic (WGAN-DRA)",
                              choices=("gan", "wgan"))
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


# DRAGAN's lambda = 10, one critic step, the GAN loss (a standard GAN); the WGAN-GP settings otherwise. "toy": a
# CPU demo (DRAGAN's code has no toy): the Wasserstein loss with 5 critic steps, as the notebook runs DRAGAN;
# with the GAN loss and one critic step the generator collapses on the swiss roll (W1 1.31 -> 1.33 over 800
# iterations). "blog": the Lernapparat notebook (RMSprop 5e-5, 10 critic steps, LeakyReLU MLPs, 5000 generator
# iterations, lambda 10).
DEMO_NOTE = {"toy": "the toy demo trains WGAN-DRA (--loss wgan, 5 critic steps); DRAGAN's GAN loss with one critic "
                    "step collapses on this toy"}
DEFAULTS = {
    "toy": dict(loss="wgan", width=512, iters=600, batch_size=256, n_critic=5, lam=10.0, optimizer="adam",
                lr_critic=1e-4, lr_generator=1e-4, beta1=0.5, beta2=0.9, arch="mlp", eval_every=150,
                generator_batch_norm=False),
    "blog": dict(loss="wgan", width=512, iters=5000, batch_size=256, n_critic=10, lam=10.0, optimizer="rmsprop",
                 lr_critic=5e-5, lr_generator=5e-5, beta1=0.5, beta2=0.9, arch="mlp-leaky", eval_every=500,
                 generator_batch_norm=False),
    "image": dict(loss="gan", width=64, iters=200_000, batch_size=64, n_critic=1, lam=10.0, optimizer="adam",
                  lr_critic=1e-4, lr_generator=1e-4, beta1=0.5, beta2=0.9, arch="dcgan", eval_every=5000,
                  generator_batch_norm=False),
    "text": dict(loss="gan", width=512, iters=500_000, batch_size=64, n_critic=1, lam=10.0, optimizer="adam",
                 lr_critic=3e-4, lr_generator=1e-4, beta1=0.5, beta2=0.9, eval_every=2000, generator_batch_norm=True),
    # without --data-root: the embedded corpus / 8x8 digits, a CPU-sized miniature of the paper setting
    "text embedded": dict(width=64, iters=600, eval_every=150, eval_samples=640),
    "image embedded": dict(width=16, iters=1000, eval_every=250, eval_samples=1000),
}
PAPER = {"image": "python dragan.py --dataset celeba --data-root img_align_celeba",
         "text": "python dragan.py --dataset text --data-root 1-billion-word-language-modeling-benchmark-r13output"}


# ---- the method: copy from here into your own code; it needs only `import torch` -------------------------------


def dragan_perturb(real, kind="original", c=10.0):
    """The points x_tilde near the real data where the penalty is taken (variants: see the module docstring)."""
    shape = (real.shape[0], *[1] * (real.dim() - 1))
    if kind == "original":  # x_p = x + 0.5 std(x) U[0, 1), one population std (numpy's) for the whole batch
        noisy = real + 0.5 * real.std(correction=0) * torch.rand_like(real)
        return real + torch.rand(shape, device=real.device) * (noisy - real)  # x~ = x + alpha (x_p - x)
    if kind == "paper":  # x~ = x + delta, delta ~ N(0, c I)
        return real + c ** 0.5 * torch.randn_like(real)
    if kind == "improved":  # x~ = x + 0.25 std_batch(x) N(0, 1), per coordinate: constant inputs stay put
        return real + 0.25 * real.std(dim=0, keepdim=True) * torch.randn_like(real)
    if kind == "prod":  # PRODGAN: on the data itself
        return real
    raise ValueError(f"unknown perturbation {kind!r}")


def dragan_penalty(critic, points, k=1.0):
    """mean (||grad_x f(x_tilde)|| - k)^2 at the given points (Kodali et al.'s DRAGAN penalty, k = 1; f = the logit)."""
    points = points.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - k).pow(2).mean()


def critic_loss(critic, real, fake, *, lam=10.0, k=1.0, perturb="original", c=10.0, objective="gan"):
    """DRAGAN's critic loss: the GAN loss -E log sigmoid f(real) - E log(1 - sigmoid f(fake)) (objective "gan")
    or the WGAN loss E f(fake) - E f(real) ("wgan"), + lam * penalty near the data. Returns (L, terms)."""
    f_real, f_fake = critic(real).reshape(len(real)), critic(fake).reshape(len(fake))  # any score shape -> (B,)
    w_distance = f_real.mean() - f_fake.mean()                 # E f(x) - E f(G(z)), logged
    if objective == "gan":  # -log s(f(x)) - log(1 - s(f(G(z)))), s the sigmoid
        adversarial = torch.nn.functional.softplus(-f_real).mean() + torch.nn.functional.softplus(f_fake).mean()
    else:
        adversarial = -w_distance                              # E f(G(z)) - E f(x) (WGAN-DRA)
    penalty = dragan_penalty(critic, dragan_perturb(real, perturb, c), k)  # E (||grad f(x~)|| - k)^2 near the data
    loss = adversarial + lam * penalty                         # DRAGAN's critic objective
    return loss, {"critic_loss": loss, "w_distance": w_distance, "adversarial": adversarial, "penalty": penalty}


def generator_loss(critic, real, fake, *, objective="gan"):
    """Non-saturating -E log sigmoid f(G(z)) (gan) or -E f(G(z)) (wgan). (`real` unused: the shared signature.)"""
    f_fake = critic(fake).reshape(len(fake))
    loss = torch.nn.functional.softplus(-f_fake).mean() if objective == "gan" else -f_fake.mean()
    return loss, {"generator_loss": loss}


# ---- end of the method ---------------------------------------------------------------------------------------


def main(argv=None):
    args = common.parse_args(Args, argv, DEFAULTS, about=__doc__)
    rank = common.setup_distributed()  # under torchrun --nproc_per_node=N: one process per device
    run = common.Run("dragan", args, PAPER, DEMO_NOTE)
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
        # ---- critic: minimise the GAN (or WGAN) loss + lam * penalty near the data   (DRAGAN objective)
        # n_critic steps; the notebook (--schedule blog) takes 100 for the first 25 generator steps and every 500th
        n_critic = 100 if args.schedule == "blog" and (step < 25 or step % 500 == 0) else args.n_critic
        for _ in range(n_critic):
            real = data.next()
            with torch.no_grad():
                fake = generator(torch.randn(args.batch_size, z_dim, device=device))
            loss, terms = critic_loss(critic, real, fake, lam=args.lam, k=args.k, perturb=args.perturb, c=args.c,
                                      objective=args.loss)
            opt_critic.zero_grad(set_to_none=True)
            loss.backward()
            opt_critic.step()

        # ---- generator: non-saturating -E log sigmoid f(G(z)) (gan) or -E f(G(z)) (wgan)
        critic.requires_grad_(False)
        fake = generator(torch.randn(args.batch_size, z_dim, device=device))
        loss, generator_terms = generator_loss(critic, real, fake, objective=args.loss)
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
