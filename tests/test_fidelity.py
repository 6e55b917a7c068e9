"""The nets as in the original code: parameter counts, initialisation, TensorFlow's SAME padding, FOGAN's
batch norm in the text generator, the paper settings."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import common
import fogan_text
import wgangp
from helpers import bf16


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


def n_trainable(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def test_text_nets_have_the_fogan_parameter_counts():
    """gan_language_JSD.py with --batch_norm_g, 2,048 characters, dim 512, seq_len 32: 16,293,312 generator
    variables, of which the optimiser trains 16,276,480 (lib.params_with_name('Generator')); the 16,832 batch-norm
    offsets (128 + 512 * 32 + 10 * 32) exist and stay 0."""
    generator = common.text_generator(128, 2048, 512, 32, batch_norm=True)
    offsets = sum(m.beta.numel() for m in generator.modules() if isinstance(m, common.OffsetBatchNorm))
    assert (n_trainable(generator), offsets) == (16_276_480, 16_832)
    assert n_trainable(generator) + offsets == 16_293_312
    assert n_trainable(common.text_critic(2048, 512, 32)) == 14_177_793


def test_fogan_dcgan_has_the_original_parameter_counts():
    """DCGAN_FID_batched/model.py at 64x64, gf_dim = df_dim = 64, z_dim 100, no critic batch norm."""
    assert n_trainable(common.dcgan_generator(100, 3, 64, 64)) == 5_135_363
    assert n_trainable(common.dcgan_critic(3, 64, 64)) == 4_314_753


def test_offset_batch_norm_normalises_each_sequence_position_over_batch_and_channels():
    torch.manual_seed(0)
    B, C, L = 64, 16, 8
    position_mean, position_std = torch.linspace(-3, 3, L), torch.linspace(0.5, 4, L)
    channel_shift = torch.linspace(-1, 1, C)[None, :, None]  # channels differ too, less than positions do
    x = position_mean + position_std * torch.randn(B, C, L) + channel_shift
    norm = common.OffsetBatchNorm(L)
    with torch.no_grad():
        norm.beta.copy_(torch.arange(L, dtype=torch.float32))
    y = norm(x)
    # per position, over (batch, channels): mean beta_l, variance 1
    assert torch.allclose(y.mean((0, 1)), norm.beta, atol=1e-4)
    assert torch.allclose(y.var((0, 1), unbiased=False), torch.ones(L), atol=1e-3)
    # PyTorch's BatchNorm1d reading (per channel over batch x positions) would leave positions un-normalised
    per_channel = nn.BatchNorm1d(C, affine=False)(x)
    assert (per_channel.mean((0, 1)) - per_channel.mean()).abs().max() > 0.5
    # offset only (BN_SCALE = False), decay 0.9 on the batch mean and biased variance
    assert list(norm.named_parameters()) == [] and "beta" in dict(norm.named_buffers())  # never trained
    assert torch.allclose(norm.moving_mean, 0.1 * x.mean((0, 1)), atol=1e-6)
    assert torch.allclose(norm.moving_variance, 0.9 + 0.1 * x.var((0, 1), unbiased=False), atol=1e-5)
    norm.eval()  # sampling: the moving averages
    expected = (x - norm.moving_mean) / torch.sqrt(norm.moving_variance + 1e-5) + norm.beta
    assert torch.allclose(norm(x), expected, atol=1e-5)


def test_text_generator_batch_norm_sits_where_fogan_puts_it():
    generator = common.text_generator(128, 50, width=16, seq_len=32, batch_norm=True)
    norms = [m for m in generator.modules() if isinstance(m, common.OffsetBatchNorm)]
    # g_bn0 on the noise (128 units), g_bn1 on the linear's output (per unit), g_bn2..11 in the blocks (per position)
    assert [len(m.beta) for m in norms] == [128, 16 * 32] + [32] * 10
    block = generator[4].res
    assert [type(m).__name__ for m in block] == ["ReLU", "Conv1d", "OffsetBatchNorm", "ReLU", "Conv1d", "OffsetBatchNorm"]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in generator.modules())
    assert not any(isinstance(m, common.OffsetBatchNorm) for m in common.text_generator(128, 50, 16).modules())


def test_text_scripts_default_to_the_batch_norm_generator_and_500k_iterations():
    """With the real data (--data-root) the paper's run; the embedded corpus gets the miniature of it."""
    for module, argv in ((fogan_text, []), (wgangp, ["--dataset", "text"])):
        args = common.parse_args(module.Args, argv + ["--data-root", "1-billion-word"], module.DEFAULTS)
        assert args.generator_batch_norm is True and args.iters == 500_000 and args.n_critic == 1
        assert args.width == 512
        mini = common.parse_args(module.Args, argv, module.DEFAULTS)
        assert mini.generator_batch_norm is True and mini.n_critic == 1 and mini.batch_size == 64
        assert mini.width == 64 and mini.iters < 10_000


def assert_uniform(weight, std):
    """tflib's U[-std sqrt 3, std sqrt 3]: the bound holds and the sample std is std (within 5%)."""
    bound = std * math.sqrt(3)
    assert weight.abs().max().item() <= bound * (1 + 1e-6)
    assert weight.abs().max().item() > 0.95 * bound
    assert weight.std().item() == pytest.approx(std, rel=0.05)


def test_text_nets_use_tflib_init():
    torch.manual_seed(0)
    critic = common.text_critic(300, 128, 32)
    conv_in, block, head = critic[0], critic[1].res[1], critic[-2]
    assert_uniform(conv_in.weight, math.sqrt(4 / (300 * 1 + 128 * 1)))   # Conv1D he_init: 4 / (fan_in + fan_out)
    assert_uniform(block.weight, math.sqrt(4 / (128 * 5 + 128 * 5)))
    assert_uniform(head.weight, math.sqrt(2 / (128 * 32 + 1)))             # Linear: Glorot
    generator = common.text_generator(128, 300, 128, 32, batch_norm=True)
    assert_uniform(generator[1].weight, math.sqrt(2 / (128 + 128 * 32)))    # Generator.Input: Glorot
    assert_uniform(generator[4].res[1].weight, math.sqrt(4 / (128 * 5 + 128 * 5)))
    assert_uniform(generator[-2].weight, math.sqrt(4 / (128 + 300)))        # Generator.Output: 1x1 conv, he_init
    for m in list(critic.modules()) + list(generator.modules()):
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            assert torch.count_nonzero(m.bias) == 0


def test_toy_mlp_uses_gan_toy_init_and_blog_mlp_pytorch_default():
    torch.manual_seed(0)
    net = common.mlp(2, 1, 512)
    assert_uniform(net[2].weight, math.sqrt(2 / 512))                     # ReLULayer: initialization='he'
    assert_uniform(net[0].weight, math.sqrt(2 / 2))
    assert_uniform(net[6].weight, math.sqrt(2 / (512 + 1)))               # output Linear: Glorot
    assert torch.count_nonzero(net[2].bias) == 0
    blog = common.mlp(2, 1, 512, activation="leaky")
    assert isinstance(blog[1], nn.LeakyReLU) and blog[1].negative_slope == 0.01
    assert_uniform(blog[2].weight, 1 / math.sqrt(3 * 512))                # nn.Linear's kaiming_uniform(a=sqrt 5)
    assert torch.count_nonzero(blog[2].bias) > 0


def test_mnist_nets_use_tflib_init():
    torch.manual_seed(0)
    critic, generator = common.mnist_critic(64), common.mnist_generator(128, 64)
    assert_uniform(critic[2].weight, math.sqrt(4 / (64 * 25 + 128 * 25 / 4)))      # Conv2D stride 2
    assert_uniform(generator[3].weight, math.sqrt(4 / (256 * 25 / 4 + 128 * 25)))  # Deconv2D
    assert_uniform(generator[0].weight, math.sqrt(2 / (128 + 4 * 4 * 4 * 64)))


def test_fogan_dcgan_uses_carpedm20_init():
    torch.manual_seed(0)
    generator, critic = common.dcgan_generator(100, 3, 64, 64), common.dcgan_critic(3, 64, 64)
    conv = critic[2].weight
    truncated_std = 0.02 * math.sqrt(1 - 2 * 2 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2)))
    assert conv.abs().max().item() <= 0.04 and conv.std().item() == pytest.approx(truncated_std, rel=0.03)
    deconv = generator[4].weight
    assert deconv.abs().max().item() > 0.06 and deconv.std().item() == pytest.approx(0.02, rel=0.03)  # not truncated
    assert generator[0].weight.std().item() == pytest.approx(0.02, rel=0.03)
    for m in generator.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            assert torch.count_nonzero(m.bias) == 0


def test_resnet_64_is_gan_64x64s_good_nets():
    torch.manual_seed(0)
    generator, critic = common.resnet_generator(128, 3, 8), common.resnet_critic(3, 8)
    images = generator(torch.randn(5, 128))
    assert images.shape == (5, 3, 64, 64) and critic(images).shape == (5,)
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in critic.modules()) == 8  # layer norm
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    bns = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 9 and not any(m.track_running_stats for m in bns)  # tflib: always batch statistics
    assert_uniform(critic[0].weight, math.sqrt(2 / (3 * 9 + 8 * 9)))       # the input conv: he_init=False
    assert_uniform(critic[1].conv1.weight, math.sqrt(4 / (8 * 9 + 8 * 9)))


def tf_same_conv_by_hand(x, w, stride):
    """out[i, j] = sum w[a, b] x[i s + a - pad, j s + b - pad] with TensorFlow's pad = total // 2 before."""
    n, k = x.shape[-1], w.shape[-1]
    out_n = -(-n // stride)
    pad = max((out_n - 1) * stride + k - n, 0) // 2
    out = torch.zeros(out_n, out_n, dtype=torch.float64)
    for i in range(out_n):
        for j in range(out_n):
            for a in range(k):
                for b in range(k):
                    r, c = i * stride + a - pad, j * stride + b - pad
                    if 0 <= r < n and 0 <= c < n:
                        out[i, j] += w[a, b] * x[r, c]
    return out


@pytest.mark.parametrize("n", [8, 7])
def test_conv_same_matches_tensorflow_padding(n):
    torch.manual_seed(1)
    layer = common.Conv2dSame(1, 1, 5, 2, bias=False).double()
    x = torch.randn(1, 1, n, n, dtype=torch.float64)
    expected = tf_same_conv_by_hand(x[0, 0], layer.weight[0, 0].detach(), 2)
    assert torch.allclose(layer(x)[0, 0], expected)
    symmetric = F.conv2d(x, layer.weight, stride=2, padding=2)[0, 0]  # the usual PyTorch port: padding=2
    if n == 8:
        assert not torch.allclose(symmetric, expected)


def test_deconv_same_is_the_adjoint_of_conv_same():
    torch.manual_seed(2)
    conv = common.Conv2dSame(3, 4, 5, 2, bias=False).double()
    deconv = common.ConvTranspose2dSame(4, 3, 5, 2, bias=False).double()
    with torch.no_grad():
        deconv.weight.copy_(conv.weight)
    x, y = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.randn(2, 4, 4, 4, dtype=torch.float64)
    assert deconv(y).shape == x.shape
    assert (conv(x) * y).sum().item() == pytest.approx((deconv(y) * x).sum().item(), rel=1e-10)


def test_blog_schedule_is_the_notebooks_setting():
    args = common.parse_args(wgangp.Args, ["--dataset", "25gaussians", "--schedule", "blog"], wgangp.DEFAULTS)
    assert (args.optimizer, args.lr_critic, args.lr_generator, args.n_critic, args.lam, args.iters, args.arch) == \
        ("rmsprop", 5e-5, 5e-5, 10, 10.0, 5000, "mlp-leaky")
    with pytest.raises(common.UserError, match="toy"):
        common.parse_args(wgangp.Args, ["--dataset", "digits", "--schedule", "blog"], wgangp.DEFAULTS)


@pytest.mark.parametrize("size,channels", [(64, 3), (32, 3), (32, 1)])
@pytest.mark.parametrize("norm", ["none", "layer", "batch"])
def test_dcgan_shapes(size, channels, norm):
    generator, critic = common.dcgan_generator(100, channels, size, 8), common.dcgan_critic(channels, size, 8, norm)
    images = generator(torch.randn(5, 100))
    assert images.shape == (5, channels, size, size)
    assert critic(images).shape == (5,)


def test_dcgan_init_and_no_critic_norm_by_default():
    critic = common.dcgan_critic(3, 64)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in critic.modules())
    assert abs(critic[0].weight.std().item() - 0.0176) < 0.003  # truncated normal 0.02 (see test_fidelity)


def test_mnist_and_text_and_mlp_shapes():
    assert common.mnist_generator(128, 8)(torch.randn(3, 128)).shape == (3, 1, 28, 28)
    assert common.mnist_critic(8)(torch.randn(3, 1, 28, 28)).shape == (3,)
    generator = common.text_generator(128, 50, width=16, batch_norm=True)
    out = generator(torch.randn(4, 128))
    assert out.shape == (4, 50, 32) and torch.allclose(out.sum(1), torch.ones(4, 32))
    assert sum(isinstance(m, common.OffsetBatchNorm) for m in generator.modules()) == 12  # noise, input, 2 per block
    assert common.text_critic(50, width=16)(out).shape == (4,)
    assert common.mlp(2, 2)(torch.randn(7, 2)).shape == (7, 2)
    assert sum(isinstance(m, nn.Linear) for m in common.mlp(2, 1)) == 4  # 3 hidden layers of 512 + output


def test_text_resblock_is_x_plus_0_3_res():
    block = common.ResBlock1d(8)
    x = torch.randn(2, 8, 32)
    assert torch.allclose(block(x), x + 0.3 * block.res(x))


def test_sampling_uses_batch_statistics_in_the_first_two_batch_norms_and_moving_averages_in_the_blocks():
    """gan_language_JSD.py builds its sampler with train=False, but calls g_bn0 (noise) and g_bn1 (input linear)
    without `train`: those two normalise each sampling batch with its own statistics, the blocks use the moving
    averages."""
    torch.manual_seed(0)
    generator = common.text_generator(16, 20, width=8, seq_len=8, batch_norm=True)
    norms = [m for m in generator.modules() if isinstance(m, common.OffsetBatchNorm)]
    generator(torch.randn(64, 16))  # one training step's worth of moving averages

    def samples():
        return common.generate(generator, 16, 128, torch.device("cpu"), batch=64)

    before = samples()
    with torch.no_grad():
        for norm in norms[:2]:
            norm.moving_mean.add_(5.0)
            norm.moving_variance.mul_(9.0)
    assert torch.equal(samples(), before)
    with torch.no_grad():
        norms[2].moving_mean.add_(5.0)
    assert not torch.allclose(samples(), before)
    assert generator.training  # generate puts the generator back in training mode


def test_batch_norm_offsets_stay_0_and_are_not_trained(tmp_path):
    """The original's optimiser never sees the batch norms' offsets: after training they are still exactly 0."""
    generator = common.text_generator(16, 20, width=8, seq_len=8, batch_norm=True)
    assert not any(name.endswith("beta") for name, _ in generator.named_parameters())
    optimiser = torch.optim.Adam(generator.parameters(), lr=0.1)
    for _ in range(3):
        optimiser.zero_grad()
        generator(torch.randn(32, 16))[:, 0].sum().backward()
        optimiser.step()
    offsets = [m.beta for m in generator.modules() if isinstance(m, common.OffsetBatchNorm)]
    assert len(offsets) == 12 and all(torch.equal(b, torch.zeros_like(b)) for b in offsets)
    trained = {id(p) for group in optimiser.param_groups for p in group["params"]}
    assert not any(id(b) in trained for b in offsets)
