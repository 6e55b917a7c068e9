"""What two or more of the method scripts share, in the order a script's main() meets it: data (2D toys,
images, text), nets as in the original code, metrics (toy scores, n-gram JSD, FID), evaluation; then, under one
banner, the run plumbing (arguments, device, seeding, the run folder with its checkpoints, signals and atomic
writes). Nothing here knows which method runs: each method file builds its own optimisers and critic schedule.
"""
import argparse
import contextlib
import csv
import dataclasses
import datetime
import errno
import glob
import hashlib
import io
import itertools
import json
import math
import os
import platform
import random
import signal
import sys
import time
import typing
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class UserError(Exception):
    """Bad input, or a run that cannot go on: reported as one `error:` line, exit status 2."""


def fail(message):
    raise UserError(message)


# =====================================================================================
# Data: every source is an endless stream of batches on the device, with a state to resume
# =====================================================================================

TOYS = ("8gaussians", "25gaussians", "swissroll")
IMAGES = ("digits", "mnist", "cifar10", "celeba", "folder")
TEXTS = ("text",)
DATASETS = TOYS + IMAGES + TEXTS
TOY_STD = {"8gaussians": 0.02 / 1.414, "25gaussians": 0.05 / 2.828}  # std of a mode after the scaling


def data_kind(dataset):
    kinds = {**dict.fromkeys(TOYS, "toy"), **dict.fromkeys(IMAGES, "image"), **dict.fromkeys(TEXTS, "text")}
    return kinds.get(dataset) or fail(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def make_data(dataset, data_root, batch_size, device, seed, image_size=None, max_lines=10_000_000, cache=None,
              train_size=None):
    """The data stream; `cache` (args.cache_dir, set by parse_args) holds decoded images and the metrics' statistics.
    train_size (images): train on that many images, drawn once by a fixed permutation; the rest are held out."""
    kind = data_kind(dataset)
    if kind == "toy":
        return ToyData(dataset, batch_size, device, seed)
    if kind == "image":
        images, heldout = load_images(dataset, data_root, image_size, cache), None
        if train_size is not None:
            if not 0 < train_size < len(images):
                fail(f"--train-size {train_size}: between 1 and {len(images) - 1} ({dataset} has {len(images)} images)")
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
            images, heldout = images[order[:train_size]], images[order[train_size:]]
        return TensorData(images, batch_size, device, seed, "image", dataset=dataset, cache=cache, heldout=heldout)
    corpus = load_text(data_root, max_lines=max_lines)
    return TensorData(corpus["train"], batch_size, device, seed, "text", dataset=dataset, cache=cache,
                      vocab_size=corpus["vocab_size"], chars=corpus["chars"], heldout=corpus["heldout"])


def toy_centres(dataset):
    if dataset == "8gaussians":
        angles = np.arange(8) * np.pi / 4
        return 2 * np.stack([np.cos(angles), np.sin(angles)], 1) / 1.414
    if dataset == "25gaussians":
        grid = np.arange(-2, 3) * 2.0
        return np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2) / 2.828
    return None


def toy_batch(dataset, n, rng):
    """Sample n points as in WGAN-GP's gan_toy.py, from a numpy RandomState `rng`."""
    if dataset == "swissroll":
        from sklearn.datasets import make_swiss_roll
        return make_swiss_roll(n_samples=n, noise=0.25, random_state=rng)[0][:, [0, 2]] / 7.5
    centres = toy_centres(dataset) * (1.414 if dataset == "8gaussians" else 2.828)  # unscaled centres
    std = 0.02 if dataset == "8gaussians" else 0.05
    points = centres[rng.randint(len(centres), size=n)] + std * rng.randn(n, 2)
    return points / (1.414 if dataset == "8gaussians" else 2.828)


class ToyData:
    kind = "toy"

    def __init__(self, dataset, batch_size, device, seed):
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.rng = np.random.RandomState(seed + 1)
        self.shape = (2,)

    def next(self):
        return torch.as_tensor(toy_batch(self.dataset, self.batch_size, self.rng), dtype=torch.float32,
                               device=self.device)

    def real_sample(self, n, seed=1234):
        return toy_batch(self.dataset, n, np.random.RandomState(seed))

    def state_dict(self):
        return {"rng": numpy_state(self.rng.get_state())}

    def load_state_dict(self, state):
        self.rng.set_state(numpy_state(state["rng"], plain=False))


class RealPlusNoise(nn.Module):
    """WGAN-GP's gan_toy.py FIXED_GENERATOR as a generator without weights: G(z) = real points + z, z ~ N(0, 1) in
    2D. In training the real points are the next batch of the data stream (other points than the critic's real
    batch, as the stream's state is in the checkpoint); in eval mode a seeded stream of its own, the same points at
    every evaluation."""

    def __init__(self, data, seed=4321):
        super().__init__()
        self.data, self.seed, self.rng = data, seed, np.random.RandomState(seed)

    def train(self, mode=True):  # `generate` sets eval mode first: every evaluation draws the same real points
        if not mode:
            self.rng = np.random.RandomState(self.seed)
        return super().train(mode)

    def forward(self, z):
        if self.training:
            return self.data.next()[:len(z)] + z
        real = toy_batch(self.data.dataset, len(z), self.rng)
        return torch.as_tensor(real, dtype=z.dtype, device=z.device) + z


class TensorData:
    """A whole dataset held as one integer tensor (uint8 images or int16 characters), on the device when
    it fits; batches drawn epoch by epoch from a seeded permutation and converted on the device."""

    def __init__(self, items, batch_size, device, seed, kind, dataset=None, cache=None, vocab_size=None, chars=None,
                 heldout=None):
        if len(items) < batch_size:
            fail(f"--batch-size {batch_size} is larger than the dataset ({len(items)} items)")
        self.kind, self.batch_size, self.device = kind, batch_size, device
        on_device = device.type == "cuda" and items.numel() * items.element_size() < 8 * 2**30
        self.items = items.to(device) if on_device else items
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.order, self.position = torch.randperm(len(items), generator=self.generator), 0
        self.dataset, self.cache = dataset, cache  # its name; the folder of its cached statistics
        self.vocab_size, self.chars = vocab_size, chars  # text: the characters of the one-hot channels
        self.heldout = heldout  # items the nets never train on (text: held-out lines; images: --train-size's rest)
        self.shape = tuple(self.convert(self.items[:1]).shape[1:])

    def convert(self, batch):
        batch = batch.to(self.device, non_blocking=True)
        if self.kind == "image":
            return batch.float() / 127.5 - 1.0  # [0, 255] -> [-1, 1]
        return F.one_hot(batch.long(), self.vocab_size).float().transpose(1, 2)  # (B, vocab, length)

    def next(self):
        if self.position + self.batch_size > len(self.order):
            self.order, self.position = torch.randperm(len(self.items), generator=self.generator), 0
        index = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return self.convert(self.items[index.to(self.items.device)])

    def state_dict(self):
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state):
        order, position = state["order"], int(state["position"])
        if not (isinstance(order, torch.Tensor) and len(order) == len(self.items) and 0 <= position <= len(order)
                and bool((order.sort().values == torch.arange(len(order))).all())):
            raise ValueError("its data-stream position is not one of this dataset")
        self.generator.set_state(state["generator"])
        self.order, self.position = order, position


# ---- images -------------------------------------------------------------------------

IMAGE_SIZE = {"digits": 28, "mnist": 28, "cifar10": 32, "celeba": 64, "folder": 64}
IMAGE_HINT = {
    "celeba": "put CelebA's img_align_celeba/*.jpg under a folder and pass --data-root FOLDER",
    "mnist": "pass --data-root ROOT holding torchvision's MNIST/raw files (torchvision.datasets.MNIST(ROOT, download=True) on a machine with network)",
    "cifar10": "pass --data-root ROOT holding cifar-10-batches-py (torchvision.datasets.CIFAR10(ROOT, download=True) on a machine with network)",
    "folder": "pass --data-root FOLDER holding .jpg/.png images (searched recursively)",
}


def resize_uint8(images, size, center_crop=False):
    """(N, C, H, W) uint8 -> (N, C, size, size) uint8, bilinear with antialiasing, in chunks. center_crop: True for
    the largest centred square, or a side in pixels (108 for CelebA, as DCGAN/TTUR crop it)."""
    out = []
    for chunk in images.split(4096):
        x = chunk.float()
        if center_crop:
            side = min(*x.shape[-2:], center_crop if center_crop is not True else 10**9)
            top, left = (x.shape[-2] - side) // 2, (x.shape[-1] - side) // 2
            x = x[..., top:top + side, left:left + side]
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def require_folder(root, what, hint):
    if not os.path.isdir(root):
        fail(f"{what} folder {root} {'is a file, not a folder' if os.path.exists(root) else 'does not exist'}; {hint}")


def load_images(dataset, root, size=None, cache=None):
    """Images as one (N, C, size, size) uint8 tensor. `digits` ships with scikit-learn; the others read
    a local root and never download. Decoded folders are cached as .npy in `cache`."""
    size = size or IMAGE_SIZE[dataset]
    if dataset == "digits":
        from sklearn.datasets import load_digits
        pixels = load_digits().images  # (1797, 8, 8), values 0..16
        images = torch.as_tensor(pixels * (255 / 16)).round().to(torch.uint8)[:, None]
        return resize_uint8(images, size)
    if not root:
        fail(f"--dataset {dataset} needs its data: {IMAGE_HINT[dataset]}")
    require_folder(root, "data", IMAGE_HINT[dataset])
    import torchvision
    try:
        if dataset == "mnist":
            images = torchvision.datasets.MNIST(root, train=True, download=False).data[:, None]
            return resize_uint8(images, size)
        if dataset == "cifar10":
            array = torchvision.datasets.CIFAR10(root, train=True, download=False).data  # (N, 32, 32, 3)
            return resize_uint8(torch.as_tensor(array).permute(0, 3, 1, 2).contiguous(), size)
    except RuntimeError as e:
        fail(f"{dataset} not found under {root} ({str(e).splitlines()[0]}); {IMAGE_HINT[dataset]}")
    return load_image_folder(root, size, center_crop=108 if dataset == "celeba" else True, cache=cache)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def image_files(root):
    """Image files under root, recursively, each once: symbolic links are followed, but a folder already seen
    (a link loop) is not entered again and a file reached twice is listed once."""
    files, seen_dirs, seen_files = [], set(), set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen_dirs:
            subfolders[:] = []
            continue
        seen_dirs.add(real)
        for name in names:
            path = os.path.join(folder, name)
            if (name.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(path)
                    and os.path.realpath(path) not in seen_files):  # regular files only: a pipe would block the decoder
                seen_files.add(os.path.realpath(path))
                files.append(path)
    return sorted(files)


def to_rgb_uint8(im):
    """A PIL image as (H, W, 3) uint8. 16-bit images (I;16) are scaled from 0..65535, dark ones too; 32-bit
    integer images (I) likewise when their values exceed 255."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(im, dtype=np.float64)
        array = np.round(array / 257.0) if im.mode != "I" or array.max() > 255 else array
        return np.repeat(np.clip(array, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    return np.array(im.convert("RGB"))


def load_image_folder(root, size, center_crop=True, cache=None):
    files = image_files(root)
    if not files:
        fail(f"no .jpg/.png images under {root}")
    # the cache key: every file's path, size and modification time, and the decoding; a changed file is a new key
    listing = "\n".join(f"{f}|{s.st_size}|{s.st_mtime_ns}" for f, s in zip(files, map(os.stat, files)))
    key = f"{os.path.realpath(root)}|{size}|{center_crop}\n{listing}"
    decoded = cached(cache, f"images_{size}px", key, lambda: {"images": decode_images(files, root, size, center_crop)})
    return torch.from_numpy(decoded["images"])


def decode_images(files, root, size, center_crop):
    from tqdm import tqdm
    images, broken = [], []
    for f in tqdm(files, desc=f"decoding {len(files)} images once", mininterval=2, disable=len(files) < 5000):
        image = decode_image(f, size, center_crop)
        if image is None:
            broken.append(f)
        else:
            images.append(image)
    if not images:
        fail(f"none of the {len(files)} image files under {root} could be read, e.g. {broken[0]}")
    if broken:
        print(f"warning: skipped {len(broken)} unreadable image(s) under {root}, e.g. {broken[0]}", file=sys.stderr)
    return torch.stack(images).numpy()


def decode_image(path, size, center_crop):
    """One image file as (3, size, size) uint8; None when it cannot be read."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            array = to_rgb_uint8(im)
    except Exception:
        return None
    return resize_uint8(torch.from_numpy(array).permute(2, 0, 1)[None], size, center_crop)[0]


# ---- text ---------------------------------------------------------------------------

SEQ_LEN = 32
PAD = "`"


def billion_word_files(root, *parts):
    """The files ROOT/parts... (a glob pattern below ROOT), sorted."""
    return sorted(glob.glob(os.path.join(glob.escape(root), *parts)))


def read_lines(paths, n):
    """The first n lines of the files in turn, undecodable bytes replaced; only regular files (a pipe would block)."""
    lines = []
    for path in paths:
        if not os.path.isfile(path):
            fail(f"{path} is not a regular file")
        with open(path, encoding="utf-8", errors="replace") as f:
            lines += [line.rstrip("\n") for line in itertools.islice(f, n - len(lines))]
        if len(lines) >= n:
            break
    return lines


def embedded_corpus_lines():
    """English prose that ships with CPython (the help topics pydoc shows): no download needed."""
    import pydoc_data.topics
    text = "\n".join(pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics))
    return [line.strip() for line in text.split("\n") if line.strip()]


def load_text(root=None, seq_len=SEQ_LEN, max_lines=10_000_000, vocab_size=2048, heldout_fraction=0.25):
    """Lines cut or padded with '`' to seq_len chars and the vocab_size-1 most common chars + 'unk', as in
    the WGAN-GP language code (language_helpers.load_dataset). One Billion Word when `root` holds its shards,
    else the embedded corpus. Returns int16 (N, seq_len) train / heldout tensors and the charmap."""
    if root:
        require_folder(root, "text", "it should hold training-monolingual.tokenized.shuffled/news.en-*")
        shards = (billion_word_files(root, "training-monolingual.tokenized.shuffled", "news.en-*")
                  or billion_word_files(root, "news.en-*"))
        if not shards:
            fail(f"no One Billion Word shards (news.en-*) under {root}")
        lines, source = read_lines(shards, max_lines), f"One Billion Word ({len(shards)} shards under {root})"
        sample = "".join(lines[:20_000])
        odd = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch != "\t"))
        if sample and odd > 0.01 * len(sample):
            fail(f"{shards[0]} does not look like UTF-8 text ({odd} of the first {len(sample)} characters are "
                 "undecodable or control characters)")
    else:
        lines, source = embedded_corpus_lines()[:max_lines], "embedded corpus (pydoc_data.topics)"
    lines = cut_and_pad(lines, seq_len)
    if len(lines) < 2 or all(line == PAD * seq_len for line in lines):
        fail(f"the text corpus ({source}) has no usable line")
    points = codepoints(lines)
    values, counts = np.unique(points, return_counts=True)
    chars = ["unk"] + [chr(v) for v in values[np.lexsort((values, -counts))][: vocab_size - 1]]
    train = encode_codepoints(points, chars)
    # the papers train and measure on the same 10M lines; held-out lines give the Bayes limit of the metric:
    # One Billion Word's heldout shards, else the last lines read (a tenth up to 20,000; embedded: a quarter)
    heldout = read_lines(billion_word_files(root, "heldout-monolingual.tokenized.shuffled", "news.en.heldout-*"),
                         20_000) if root else []
    if heldout:
        heldout = encode_codepoints(codepoints(cut_and_pad(heldout, seq_len)), chars)
    else:
        cut = len(train) - max(1, min(20_000, len(train) // 10)) if root else int(len(train) * (1 - heldout_fraction))
        train, heldout = train[:cut], train[cut:]
    return {"train": train, "heldout": heldout, "chars": chars, "vocab_size": len(chars), "source": source,
            "root": root}


def cut_and_pad(lines, seq_len):
    """Every line cut or padded with "`" to seq_len characters (language_helpers.load_dataset keeps them all);
    an empty or whitespace-only line becomes an all-padding line."""
    return [(line if line.strip() else "")[:seq_len].ljust(seq_len, PAD) for line in lines]


def codepoints(lines):
    """Equal-length lines -> (N, seq_len) uint32 Unicode code points, in one pass (fast for 10M lines)."""
    return np.frombuffer("".join(lines).encode("utf-32-le"), dtype=np.uint32).reshape(len(lines), -1)


def encode_codepoints(points, chars):
    """Code points -> int16 indices into `chars` (0, 'unk', for characters outside the charmap)."""
    table = np.array([ord(c) for c in chars[1:]], dtype=np.uint32)
    order = np.argsort(table)
    where = np.minimum(np.searchsorted(table[order], points), len(table) - 1)
    found = table[order][where] == points
    return torch.from_numpy(np.where(found, order[where] + 1, 0).astype(np.int16))


def decode_text(indices, chars):
    return ["".join(chars[i] if i > 0 else "?" for i in row) for row in indices.tolist()]


# =====================================================================================
# Nets
# =====================================================================================

ARCHS = ("mlp", "mlp-leaky", "dcgan", "resnet")


def make_nets(data, z_dim=None, width=None, critic_norm="none", generator_batch_norm=False, amp="none",
              arch=None, depth=None):
    """Generator, critic and noise size for a data stream. Toys: 3 x 512 MLPs (arch mlp: gan_toy.py; mlp-leaky:
    the Lernapparat notebook's). Text: the 1D-CNN ResNets. Images: 28x28 the WGAN-GP MNIST nets; 32x32 and
    64x64 by `arch`: dcgan (FOGAN's 5x5 DCGAN) or resnet (WGAN-GP's 64x64 ResNet). amp "bf16": both run in
    bfloat16 autocast (`Net`). depth: the toy MLPs' hidden layers (3)."""
    if depth is not None and data.kind != "toy":
        fail(f"--depth {depth} is for the 2D toys' MLPs; the image and text nets have the original code's depth")
    if data.kind == "toy":
        if arch not in (None, "mlp", "mlp-leaky"):
            fail(f"--arch {arch}: the 2D toys take mlp or mlp-leaky")
        z_dim, activation = z_dim or 2, "leaky" if arch == "mlp-leaky" else "relu"
        generator = mlp(z_dim, 2, width or 512, depth or 3, activation=activation)
        critic = nn.Sequential(*mlp(2, 1, width or 512, depth or 3, activation=activation), nn.Flatten(0))
    elif data.kind == "text":
        z_dim = z_dim or 128
        generator = text_generator(z_dim, data.vocab_size, width or 512, data.shape[1], batch_norm=generator_batch_norm)
        critic = text_critic(data.vocab_size, width or 512, data.shape[1])
    elif arch in ("mlp", "mlp-leaky"):
        fail(f"--arch {arch} is for the 2D toys; images take dcgan or resnet")
    elif data.shape[1] == 28:
        if arch not in (None, "dcgan") or critic_norm != "none":
            fail("28x28 images train WGAN-GP's MNIST nets; --arch and --critic-norm are for 32 or 64 px "
                 "(--image-size 32 or 64)")
        if data.shape[0] != 1:
            fail("28x28 images use the MNIST nets, which take one channel")
        z_dim = z_dim or 128
        generator, critic = mnist_generator(z_dim, width or 64), mnist_critic(width or 64)
    elif data.shape[1] in (32, 64):
        channels, size = data.shape[0], data.shape[1]
        z_dim = z_dim or (128 if arch == "resnet" else 100)
        if arch == "resnet":
            if size != 64:
                fail(f"--arch resnet is WGAN-GP's 64x64 ResNet; --image-size {size} takes --arch dcgan")
            if critic_norm != "none":
                fail("--arch resnet has its own layer norm in the critic; leave --critic-norm at none")
            generator, critic = resnet_generator(z_dim, channels, width or 64), resnet_critic(channels, width or 64)
        else:
            generator = dcgan_generator(z_dim, channels, size, width or 64)
            critic = dcgan_critic(channels, size, width or 64, critic_norm)
    else:
        fail(f"--image-size {data.shape[1]}: the image nets take 64 or 32 (28 for the MNIST nets)")
    generator, critic = Net(*generator), Net(*critic)  # same children, same state-dict keys
    generator.bf16 = critic.bf16 = amp == "bf16"
    return generator, critic, z_dim


# Each net follows the original code it came from, initialisation included:
#   tflib (WGAN-GP / FOGAN TensorFlow code): uniform weights with std sqrt(4 / (fan_in + fan_out)) for convolutions
#   ("He", tflib's he_init=True), sqrt(2 / (fan_in + fan_out)) for linears and he_init=False convolutions (Glorot),
#   sqrt(2 / fan_in) for the toy MLP's ReLU layers (initialization='he'); zero biases.
#   carpedm20 DCGAN (FOGAN's DCGAN_FID_batched/ops.py): truncated normal 0.02 convolutions, normal 0.02
#   deconvolutions and linears, zero biases, batch norm gamma 1 / beta 0.
# Strided convolutions use TensorFlow's padding='SAME' exactly (the extra row/column of padding at the bottom/right).


def _uniform_with_std(weight, std):
    """tflib's `uniform(stdev, size)`: U[-std sqrt 3, std sqrt 3], whose standard deviation is std."""
    with torch.no_grad():
        return weight.uniform_(-std * math.sqrt(3), std * math.sqrt(3))


def tf_linear(n_in, n_out, init="glorot"):
    """tflib.ops.linear.Linear: Glorot (std sqrt(2 / (in + out))) or 'he' (std sqrt(2 / in)) uniform, zero bias."""
    layer = nn.Linear(n_in, n_out)
    _uniform_with_std(layer.weight, math.sqrt(2 / n_in) if init == "he" else math.sqrt(2 / (n_in + n_out)))
    nn.init.zeros_(layer.bias)
    return layer


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d with TensorFlow's padding='SAME': output side ceil(input / stride), padding split as
    (total // 2 before, the rest after), so a stride-2 5x5 convolution of an even side pads 1 before and 2 after."""
    piecewise_linear = True  # padding + convolution (advas.is_piecewise_linear)

    def forward(self, x):
        pads = []
        for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                           (x.shape[-2], self.kernel_size[0], self.stride[0])):  # F.pad: last dimension first
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class ConvTranspose2dSame(nn.ConvTranspose2d):
    """tf.nn.conv2d_transpose with padding='SAME' and output side input * stride: the adjoint of Conv2dSame
    (the full transposed convolution, cropped where the forward convolution's 'SAME' padding begins)."""

    def forward(self, x):
        full = super().forward(x)  # padding 0: side (input - 1) * stride + kernel
        h, w = x.shape[-2] * self.stride[0], x.shape[-1] * self.stride[1]
        top, left = max(self.kernel_size[0] - self.stride[0], 0) // 2, max(self.kernel_size[1] - self.stride[1], 0) // 2
        return full[..., top:top + h, left:left + w]


def tf_conv(n_in, n_out, kernel, stride=1, dims=2, he=True, bias=True, transpose=False):
    """tflib.ops.conv1d.Conv1D / conv2d.Conv2D / deconv2d.Deconv2D: 'SAME' padding, uniform init with
    std sqrt(4 / (fan_in + fan_out)) (he=True) or sqrt(2 / (fan_in + fan_out)), zero bias;
    fan_in = in k^d, fan_out = out k^d, the strided side divided by stride^d."""
    fan_in, fan_out = n_in * kernel ** dims, n_out * kernel ** dims
    if transpose:
        fan_in /= stride ** dims
        layer = ConvTranspose2dSame(n_in, n_out, kernel, stride, bias=bias)
    else:
        fan_out /= stride ** dims
        if dims == 1:
            layer = nn.Conv1d(n_in, n_out, kernel, padding=kernel // 2, bias=bias)  # stride 1, odd kernel: symmetric
        elif stride == 1:
            layer = nn.Conv2d(n_in, n_out, kernel, padding=kernel // 2, bias=bias)
        else:
            layer = Conv2dSame(n_in, n_out, kernel, stride, bias=bias)
    _uniform_with_std(layer.weight, math.sqrt((4 if he else 2) / (fan_in + fan_out)))
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class OffsetBatchNorm(nn.Module):
    """tf.contrib.layers.batch_norm as FOGAN's text generator calls it (`--batch_norm_g`, BN_SCALE = False,
    updates_collections=None): decay 0.9, eps 1e-5, no scale, moving averages of the batch mean and (biased)
    variance. With the default data_format NHWC, TensorFlow normalises over every axis but the last, so on the
    generator's channels-first (B, width, seq_len) activations the statistics are per sequence position over
    batch x channels; on a (B, units) tensor, per unit.
    The offset `beta` is a buffer held at 0: the original's optimiser takes lib.params_with_name('Generator'),
    which holds only tflib's variables, so the batch norms' offsets exist and are never trained.
    batch_statistics_at_sampling: the original calls its first two batch norms (on the noise, after the input
    linear) without `train`, so they normalise with each sampling batch's own statistics even in the sampler
    (train=False), while the residual blocks' use the moving averages."""

    def __init__(self, features, decay=0.9, eps=1e-5, batch_statistics_at_sampling=False):
        super().__init__()
        self.decay, self.eps, self.batch_statistics_at_sampling = decay, eps, batch_statistics_at_sampling
        self.register_buffer("beta", torch.zeros(features))
        self.register_buffer("moving_mean", torch.zeros(features))
        self.register_buffer("moving_variance", torch.ones(features))

    def forward(self, x):
        axes = tuple(range(x.dim() - 1))
        if self.training or self.batch_statistics_at_sampling:
            mean, variance = x.float().mean(axes), x.float().var(axes, unbiased=False)
            if self.training:
                with torch.no_grad():
                    self.moving_mean.mul_(self.decay).add_((1 - self.decay) * mean)
                    self.moving_variance.mul_(self.decay).add_((1 - self.decay) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (x - mean) * torch.rsqrt(variance + self.eps) + self.beta


def mlp(n_in, n_out, width=512, depth=3, activation="relu"):
    """3 x 512 MLP. relu: WGAN-GP's gan_toy.py (ReLU layers 'he', output Glorot, tflib uniform).
    leaky: the Lernapparat notebook's ToyGAN_G/ToyGAN_D (LeakyReLU 0.01, PyTorch's default nn.Linear init)."""
    layers, n = [], n_in
    for _ in range(depth):
        if activation == "relu":
            layers += [tf_linear(n, width, "he"), nn.ReLU()]
        else:
            layers += [nn.Linear(n, width), nn.LeakyReLU(0.01)]
        n = width
    return nn.Sequential(*layers, tf_linear(n, n_out) if activation == "relu" else nn.Linear(n, n_out))


def critic_norm(kind, channels):
    if kind == "none":
        return nn.Identity()
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # layer norm over (C, H, W), as WGAN-GP's critics
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    fail(f"unknown critic norm {kind!r}; choose none, layer or batch")


# ---- FOGAN's DCGAN (carpedm20's DCGAN-tensorflow as in DCGAN_FID_batched/model.py) -------------------


def _carpedm20(layer):
    """DCGAN_FID_batched/ops.py: conv2d truncated normal 0.02, deconv2d and linear normal 0.02, zero biases."""
    with torch.no_grad():
        if isinstance(layer, Conv2dSame):
            nn.init.trunc_normal_(layer.weight, 0.0, 0.02, -0.04, 0.04)  # tf.truncated_normal: cut at 2 std
        else:
            nn.init.normal_(layer.weight, 0.0, 0.02)
        nn.init.zeros_(layer.bias)
    return layer


def dcgan_generator(z_dim, channels, size, width=64):
    """FOGAN's DCGAN generator (DCGAN_FID_batched/model.py `generator`): linear z -> (8w, size/16, size/16),
    then four 5x5 stride-2 'SAME' deconvolutions with biases (8w -> 4w -> 2w -> w -> channels), batch norm
    (gamma and beta) + ReLU after the linear and each deconvolution but the last, tanh output."""
    side = size // 16
    layers = [_carpedm20(nn.Linear(z_dim, 8 * width * side * side)), nn.Unflatten(1, (8 * width, side, side)),
              nn.BatchNorm2d(8 * width), nn.ReLU()]
    for mult in (8, 4, 2):
        layers += [_carpedm20(ConvTranspose2dSame(width * mult, width * mult // 2, 5, 2)),
                   nn.BatchNorm2d(width * mult // 2), nn.ReLU()]
    return nn.Sequential(*layers, _carpedm20(ConvTranspose2dSame(width, channels, 5, 2)), nn.Tanh())


def dcgan_critic(channels, size, width=64, norm="none"):
    """FOGAN's DCGAN critic (`discriminator`, --discriminator_batch_norm=False): four 5x5 stride-2 'SAME'
    convolutions with biases (channels -> w -> 2w -> 4w -> 8w), leaky ReLU 0.2, linear head to one score;
    `norm` (none | layer | batch) after the 2nd-4th convolution, as the reference's d_bn1..3 slots."""
    layers = [_carpedm20(Conv2dSame(channels, width, 5, 2)), nn.LeakyReLU(0.2)]
    for mult in (1, 2, 4):
        layers += [_carpedm20(Conv2dSame(width * mult, width * mult * 2, 5, 2)), critic_norm(norm, width * mult * 2),
                   nn.LeakyReLU(0.2)]
    side = size // 16
    return nn.Sequential(*layers, nn.Flatten(), _carpedm20(nn.Linear(8 * width * side * side, 1)), nn.Flatten(0))


# ---- WGAN-GP's 64x64 ResNet (gan_64x64.py GoodGenerator / GoodDiscriminator) ---------------------


class ResBlock2d(nn.Module):
    """gan_64x64.py ResidualBlock, resample 'up' (generator: batch norm) or 'down' (critic: layer norm):
    shortcut = 1x1 conv (Glorot) after nearest-neighbour upsampling / before 2x2 mean pooling;
    main = norm -> ReLU -> 3x3 conv (no bias) -> norm -> ReLU -> 3x3 conv, upsampling before the first conv ('up')
    or mean pooling after the second ('down'). Output shortcut + main (no 0.3 factor here)."""

    def __init__(self, n_in, n_out, resample):
        super().__init__()
        self.resample = resample
        if resample == "up":  # tflib Normalize in the generator: fused batch norm, always on batch statistics
            norm1, norm2 = (nn.BatchNorm2d(n, track_running_stats=False) for n in (n_in, n_out))
            conv1_out = n_out
        else:  # tflib Normalize in the critic under wgan-gp: Layernorm over (C, H, W), per-channel scale/offset
            norm1, norm2 = nn.GroupNorm(1, n_in), nn.GroupNorm(1, n_in)
            conv1_out = n_in
        self.shortcut = tf_conv(n_in, n_out, 1, he=False)
        self.norm1, self.conv1 = norm1, tf_conv(n_in, conv1_out, 3, bias=False)
        self.norm2, self.conv2 = norm2, tf_conv(conv1_out, n_out, 3)

    def forward(self, x):
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")  # UpsampleConv: 4 copies + depth_to_space
        main = self.conv2(F.relu(self.norm2(self.conv1(F.relu(self.norm1(x))))))
        if self.resample == "up":
            return self.shortcut(x) + main
        return self.shortcut(F.avg_pool2d(x, 2)) + F.avg_pool2d(main, 2)  # MeanPoolConv, ConvMeanPool


def resnet_generator(z_dim=128, channels=3, width=64):
    """GoodGenerator: linear -> (8w, 4, 4) -> 4 up-blocks (8w, 8w, 4w, 2w, w) -> BN -> ReLU -> 3x3 conv -> tanh."""
    return nn.Sequential(tf_linear(z_dim, 4 * 4 * 8 * width), nn.Unflatten(1, (8 * width, 4, 4)),
                         ResBlock2d(8 * width, 8 * width, "up"), ResBlock2d(8 * width, 4 * width, "up"),
                         ResBlock2d(4 * width, 2 * width, "up"), ResBlock2d(2 * width, width, "up"),
                         nn.BatchNorm2d(width, track_running_stats=False), nn.ReLU(), tf_conv(width, channels, 3),
                         nn.Tanh())


def resnet_critic(channels=3, width=64):
    """GoodDiscriminator: 3x3 conv (Glorot) -> 4 down-blocks (w, 2w, 4w, 8w, 8w) -> linear -> score."""
    return nn.Sequential(tf_conv(channels, width, 3, he=False),
                         ResBlock2d(width, 2 * width, "down"), ResBlock2d(2 * width, 4 * width, "down"),
                         ResBlock2d(4 * width, 8 * width, "down"), ResBlock2d(8 * width, 8 * width, "down"),
                         nn.Flatten(), tf_linear(4 * 4 * 8 * width, 1), nn.Flatten(0))


# ---- WGAN-GP's MNIST nets (gan_mnist.py) ----------------------------------------------------------


def mnist_generator(z_dim=128, width=64):
    """WGAN-GP's MNIST generator (gan_mnist.py, wgan-gp mode: no batch norm): linear, three 5x5 stride-2 'SAME'
    deconvolutions, crop 8 -> 7 after the first. Output tanh (the reference: sigmoid on [0, 1] data; ours are
    in [-1, 1])."""
    return nn.Sequential(tf_linear(z_dim, 4 * 4 * 4 * width), nn.ReLU(), nn.Unflatten(1, (4 * width, 4, 4)),
                         tf_conv(4 * width, 2 * width, 5, 2, transpose=True), nn.ReLU(), nn.ZeroPad2d((0, -1, 0, -1)),  # crop 8 -> 7
                         tf_conv(2 * width, width, 5, 2, transpose=True), nn.ReLU(),
                         tf_conv(width, 1, 5, 2, transpose=True), nn.Tanh())


def mnist_critic(width=64):
    """WGAN-GP's MNIST critic: three 5x5 stride-2 'SAME' convolutions with leaky ReLU 0.2, then linear."""
    return nn.Sequential(tf_conv(1, width, 5, 2), nn.LeakyReLU(0.2),
                         tf_conv(width, 2 * width, 5, 2), nn.LeakyReLU(0.2),
                         tf_conv(2 * width, 4 * width, 5, 2), nn.LeakyReLU(0.2),
                         nn.Flatten(), tf_linear(4 * 4 * 4 * width, 1), nn.Flatten(0))


# ---- the 1D-CNN ResNet for text (gan_language.py; FOGAN's gan_language_JSD.py) --------------------


class ResBlock1d(nn.Module):
    """x + 0.3 * conv5(relu(conv5(relu(x)))) (gan_language.py ResBlock). batch_norm: FOGAN's --batch_norm_g,
    relu -> conv -> BN -> relu -> conv -> BN, each BN an OffsetBatchNorm per sequence position."""
    piecewise_linear = True  # a residual sum (advas.is_piecewise_linear; the batch norm, when there, is not)

    def __init__(self, width, seq_len=None, batch_norm=False):
        super().__init__()
        norm = (lambda: OffsetBatchNorm(seq_len)) if batch_norm else nn.Identity
        self.res = nn.Sequential(nn.ReLU(), tf_conv(width, width, 5, dims=1), norm(),
                                 nn.ReLU(), tf_conv(width, width, 5, dims=1), norm())

    def forward(self, x):
        return x + 0.3 * self.res(x)


def text_generator(z_dim, vocab_size, width=512, seq_len=SEQ_LEN, blocks=5, batch_norm=False):
    """noise -> linear -> (width, seq_len) -> residual blocks -> 1x1 conv -> softmax over characters.
    batch_norm (FOGAN's --batch_norm_g): OffsetBatchNorm on the noise and on the linear's output (per unit, on
    batch statistics at sampling too), and inside every residual block (per position); none after the output
    convolution."""
    def norm(features):
        return OffsetBatchNorm(features, batch_statistics_at_sampling=True) if batch_norm else nn.Identity()
    return nn.Sequential(norm(z_dim), tf_linear(z_dim, width * seq_len), norm(width * seq_len),
                         nn.Unflatten(1, (width, seq_len)),
                         *[ResBlock1d(width, seq_len, batch_norm) for _ in range(blocks)],
                         tf_conv(width, vocab_size, 1, dims=1), nn.Softmax(dim=1))


def text_critic(vocab_size, width=512, seq_len=SEQ_LEN, blocks=5):
    """(B, vocab, seq_len) one-hot or softmax -> 1x1 conv -> residual blocks -> linear -> score."""
    return nn.Sequential(tf_conv(vocab_size, width, 1, dims=1), *[ResBlock1d(width) for _ in range(blocks)],
                         nn.Flatten(), tf_linear(width * seq_len, 1), nn.Flatten(0))


class Net(nn.Sequential):
    """nn.Sequential that runs in bfloat16 autocast when `bf16` is set (`--amp bf16`): matmuls and convolutions
    in bfloat16, the layers from the last one with weights onwards (the critic's score) in float32, output
    float32. Under autocast only the forward is cast; the penalties' torch.autograd.grad and the backward run
    outside it, in the dtypes the forward recorded, and the scripts take norms and losses in float32."""
    bf16 = False
    piecewise_linear = True  # its layers in turn (advas.is_piecewise_linear)

    def __init__(self, *layers):
        super().__init__(*layers)
        self.head = max(i for i, layer in enumerate(layers) if any(True for _ in layer.parameters()))

    def forward(self, x):
        if not self.bf16:
            return super().forward(x)
        layers = list(self)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            for layer in layers[:self.head]:
                x = layer(x)
        x = x.float()
        for layer in layers[self.head:]:
            x = layer(x)
        return x


# =====================================================================================
# Metrics
# =====================================================================================

# ---- toy 2D -------------------------------------------------------------------------


def toy_scores(samples, dataset, reference=None):
    """Scores of 2D samples (numpy (n, 2)). For the Gaussian mixtures: `modes` = centres holding at least 1%
    of the samples as high-quality samples, `high_quality` = share of samples within 3 std of a centre.
    For every toy: `w1` = exact Wasserstein-1 between the samples and as many fresh real points
    (optimal matching of equal-size clouds)."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist
    scores = {}
    centres = toy_centres(dataset)
    if centres is not None:
        distance = cdist(samples, centres)
        nearest, good = distance.argmin(1), distance.min(1) <= 3 * TOY_STD[dataset]
        per_mode = np.bincount(nearest[good], minlength=len(centres))
        scores["modes"] = int((per_mode >= 0.01 * len(samples)).sum())
        scores["high_quality"] = float(good.mean())
    if reference is not None:
        cost = cdist(samples, reference[: len(samples)])
        rows, cols = linear_sum_assignment(cost)
        scores["w1"] = float(cost[rows, cols].mean())
    return scores


# ---- n-gram JSD ---------------------------------------------------------------------


class NgramReference:
    """Counts of every character n-gram (n = 1..max_n) of a reference corpus of encoded lines ((N, L) ints,
    vocab V), built once and cached on disk. An n-gram gets an exact int64 key, level by level:
    key_n = rank_{n-1}(its first n-1 chars among the reference's (n-1)-grams) * V + last char, so any
    vocabulary size and any n fit in 64 bits; sample n-grams whose prefix the reference lacks get no key."""

    def __init__(self, lines, vocab_size, max_n=6, cache_dir=None):
        lines = torch.as_tensor(lines).long().numpy()
        self.vocab_size, self.max_n = vocab_size, max_n
        counts = cached(cache_dir, "ngram_counts", lines.tobytes() + f"|{vocab_size}|{max_n}".encode(),
                        lambda: self.count(lines))  # keyed by every character of the corpus
        self.keys = [counts[f"keys{n}"] for n in range(1, max_n + 1)]
        self.counts = [counts[f"counts{n}"] for n in range(1, max_n + 1)]

    def count(self, lines):
        out, rank = {}, None  # rank of the (n-1)-gram starting at each position
        for n in range(1, self.max_n + 1):
            last = lines[:, n - 1:]
            key = last if rank is None else rank[:, : last.shape[1]] * self.vocab_size + last
            unique, inverse, counts = np.unique(key.ravel(), return_inverse=True, return_counts=True)
            out[f"keys{n}"], out[f"counts{n}"] = unique, counts
            rank = inverse.reshape(key.shape)
        return out

    def jsd(self, samples, n):
        """JSD in bits between the n-grams of encoded samples ((M, L) ints) and the reference's."""
        samples = torch.as_tensor(samples).long().cpu().numpy()
        # exact identity among the sample n-grams: rows of n characters
        windows = np.lib.stride_tricks.sliding_window_view(samples, n, axis=1).reshape(-1, n)
        sample_grams, p_counts = np.unique(windows, axis=0, return_counts=True)
        # reference count of each distinct sample n-gram, through the level-by-level keys
        rank = np.zeros(len(sample_grams), dtype=np.int64)
        found = np.ones(len(sample_grams), dtype=bool)
        for level in range(n):
            key = sample_grams[:, level] if level == 0 else rank * self.vocab_size + sample_grams[:, level]
            where = np.searchsorted(self.keys[level], key)
            where = np.minimum(where, len(self.keys[level]) - 1)
            found &= self.keys[level][where] == key
            rank = np.where(found, where, 0)
        q_counts = np.where(found, self.counts[n - 1][rank], 0)
        return jsd_from_counts(p_counts, q_counts, self.counts[n - 1].sum())


def jsd_from_counts(p_counts, q_counts_at_p, q_total):
    """JSD (bits) given sample counts, the reference counts at the sample n-grams and the reference total.
    Reference n-grams missing from the samples contribute q * ln 2 each."""
    p = p_counts / p_counts.sum()
    q = q_counts_at_p / q_total
    kl_p = np.sum(p * np.log(2 * p / (p + q)))
    shared = q > 0
    kl_q = np.sum(q[shared] * np.log(2 * q[shared] / (p[shared] + q[shared]))) + (1 - q[shared].sum()) * math.log(2)
    return float(0.5 * (kl_p + kl_q) / math.log(2))


def text_collapse_scores(indices):
    """What n-gram JSD can miss (a run of padding is a frequent real 4-gram, so all-padding lines score js4 < 1):
    top_char_share, the share of the most frequent character among all generated characters (padding included),
    and distinct_lines, the fraction of distinct lines among the samples ((n, seq_len) character indices)."""
    indices = torch.as_tensor(indices).long().cpu()
    return {"top_char_share": round(torch.bincount(indices.flatten()).max().item() / indices.numel(), 5),
            "distinct_lines": round(len(torch.unique(indices, dim=0)) / len(indices), 5)}


# ---- FID ----------------------------------------------------------------------------

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2), in float64. tr sqrt(S1 S2) is the sum of the square
    roots of the eigenvalues of S1^(1/2) S2 S1^(1/2) (symmetric PSD), so no matrix square root of a non-symmetric
    product is taken and rank-deficient covariances stay finite."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    values, vectors = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fid_features(net, images):
    """2048-d pool3 features of images in [-1, 1] (any size, 1 or 3 channels) from pytorch-fid's InceptionV3
    (`load_fid_net`), which resizes to 299 bilinearly and takes [0, 1]."""
    x = images if images.shape[1] == 3 else images.repeat(1, 3, 1, 1)
    return net((x.float() + 1) / 2)[0].flatten(1)


def load_fid_net(weights, device):
    """pytorch-fid's InceptionV3 (pool3) with its FID weights, from `weights` (--fid-weights: a path; "download":
    fetch them into torch hub's cache), else torch hub's cache file if it is there. Nothing is downloaded
    unless asked: without weights FID is skipped, with one warning line."""
    from pytorch_fid.inception import InceptionV3
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", FID_WEIGHTS_FILE)
    if weights and weights != "download" and not os.path.isfile(weights):
        fail(f"--fid-weights {weights}: no such file")
    path = None if weights == "download" else weights or (cached if os.path.isfile(cached) else None)
    if path is None and weights != "download":
        print(f"warning: FID skipped: no {FID_WEIGHTS_FILE} (pass --fid-weights PATH, or --fid-weights download)",
              file=sys.stderr)
        return None
    import tempfile
    hub_dir = torch.hub.get_dir()
    with tempfile.TemporaryDirectory() as tmp:
        if path is not None:  # pytorch-fid reads hub's cache by file name: show it our file under that name
            os.makedirs(os.path.join(tmp, "checkpoints"))
            os.symlink(os.path.abspath(path), os.path.join(tmp, "checkpoints", FID_WEIGHTS_FILE))
            torch.hub.set_dir(tmp)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # hub's lines
                net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True)
        except Exception as e:
            if path is None:
                fail(f"--fid-weights download: {FID_WEIGHTS_FILE} could not be fetched ({type(e).__name__}); "
                     "pass --fid-weights PATH")
            fail(f"--fid-weights {path}: not pytorch-fid's {FID_WEIGHTS_FILE} ({type(e).__name__})")
        finally:
            torch.hub.set_dir(hub_dir)
    return net.eval().requires_grad_(False).to(device)


@torch.no_grad()
def fid_statistics(net, batches):
    features = torch.cat([fid_features(net, b).double().cpu() for b in batches]).numpy()
    return features.mean(0), np.cov(features, rowvar=False)


# ---- the embedded digits' score: fd_digits, digit_classes ----------------------------------------------------

DIGITS_HELDOUT = 450  # of scikit-learn's 1,797 digits, kept out of the classifier's training and its statistics


def digits_classifier_net():
    """28x28 in [-1, 1] -> two conv/pool stages -> 64 features (ReLU) -> 10 class scores."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))


class DigitsScore:
    """An image score for the embedded digits that needs nothing downloaded. A small CNN is trained on 1,347 of
    scikit-learn's digits at 28x28 (seeded, on the CPU, a few seconds; cached in `cache_dir` under a digest of its
    training images, labels and recipe). `fd_digits`: the Frechet distance between its 64 penultimate features of
    the images and of its training digits (another net and other features than FID: not comparable with FID);
    `digit_classes`: how many digits it sees in at least 5% of the images. `floor`: fd_digits of the 450 held-out
    real digits, what a perfect generator scores at that sample size; `accuracy`: its accuracy on them."""

    RECIPE = "cnn16-32-64|adam1e-3|batch32|epochs15|init seed 0|batch seed 1|heldout450|1 thread"  # the cache key's recipe
    trained = {}  # key -> weights, for the runs of one process

    def __init__(self, cache_dir=None):
        from sklearn.datasets import load_digits
        images, labels = load_images("digits", None, 28), torch.as_tensor(load_digits().target)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
        heldout, train = order[:DIGITS_HELDOUT], order[DIGITS_HELDOUT:]
        with torch.random.fork_rng(devices=[]):  # seeded, and the training run's random streams stay untouched
            torch.manual_seed(0)
            self.net = digits_classifier_net()
        key = images.numpy().tobytes() + labels.numpy().tobytes() + self.RECIPE.encode()
        if key not in DigitsScore.trained:  # once per process, then from the cache folder or memory
            DigitsScore.trained[key] = cached(cache_dir, "digits_classifier", key,
                                              lambda: self._train(images[train].float() / 127.5 - 1, labels[train]))
        weights = DigitsScore.trained[key]
        self.net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        self.net.eval().requires_grad_(False)
        real = images.float() / 127.5 - 1
        with torch.no_grad():
            self.accuracy = (self.net(real[heldout]).argmax(1) == labels[heldout]).float().mean().item()
        self.mu, self.sigma = self._statistics(real[train])
        self.floor = self(real[heldout])["fd_digits"]

    def _train(self, x, y):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread: the same sums in the same order, the same net on every machine
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
            for _ in range(15):
                for index in torch.randperm(len(x)).split(32):
                    loss = F.cross_entropy(self.net(x[index]), y[index])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        torch.set_num_threads(threads)
        return {k: v.numpy() for k, v in self.net.state_dict().items()}

    @torch.no_grad()
    def _statistics(self, images):
        features = self.net[:-1](images).double()
        return features.mean(0).numpy(), np.cov(features.numpy(), rowvar=False)

    @torch.no_grad()
    def __call__(self, images):
        """{"fd_digits", "digit_classes"} of images ((N, 1, H, W) in [-1, 1], any side, resized to 28)."""
        x = images.detach().float().cpu()
        if x.shape[-1] != 28 or x.shape[-2] != 28:
            x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
        mu, sigma = self._statistics(x)
        shares = torch.bincount(self.net(x).argmax(1), minlength=10) / len(x)
        return {"fd_digits": round(frechet_distance(mu, sigma, self.mu, self.sigma), 4),
                "digit_classes": int((shares >= 0.05).sum())}


# =====================================================================================
# Evaluation and writers
# =====================================================================================


@torch.no_grad()
def generate(generator, z_dim, n, device, batch=512, seed=0):
    """n generator outputs from fixed noise (seeded, not touching the training RNG), eval mode."""
    rng = torch.Generator(device=device).manual_seed(seed)
    was_training = generator.training
    generator.eval()
    out = torch.cat([generator(torch.randn(min(batch, n - i), z_dim, device=device, generator=rng)) for i in range(0, n, batch)])
    generator.train(was_training)
    return out


EVAL_SAMPLES = {"toy": 1000, "text": 6400, "image": 10_000}  # samples per evaluation (text: 6,400 as the papers)


class Evaluator:
    """The metrics of a data kind for these nets, with whatever they need prepared once (reference n-grams, FID
    statistics); `evaluate(step)` computes them on `n` samples and writes the samples into the run folder.
    fid_weights, fid_stats: --fid-weights and --fid-stats of the scripts that train images."""

    def __init__(self, data, run, generator, critic, z_dim, device, n, fid_weights=None, fid_stats=None):
        self.data, self.run, self.nets, self.z_dim, self.device = data, run, (generator, critic), z_dim, device
        self.n, self.fid_stats = n, fid_stats
        self.enabled = rank() == 0  # under torchrun, rank 0 evaluates
        if not self.enabled:
            return
        if data.kind == "toy":
            self.n = self.n or EVAL_SAMPLES["toy"]
            self.reference = data.real_sample(self.n)
            self.w1_floor = toy_scores(data.real_sample(self.n, seed=4242), data.dataset, self.reference)["w1"]
            self.real_points = {"heldout": torch.as_tensor(data.real_sample(self.n, seed=4343), dtype=torch.float32)}
        elif data.kind == "text":
            heldout = data.heldout
            self.n = self.n or min(EVAL_SAMPLES["text"], len(heldout))
            self.ngrams = NgramReference(data.items.cpu(), data.vocab_size, 6, data.cache)
            bayes_n = min(self.n, len(heldout))
            self.bayes = {f"js{n}_bayes": self.ngrams.jsd(heldout[:bayes_n], n) for n in range(1, 7)}
        else:
            self.n = self.n or EVAL_SAMPLES["image"]
            self.digits = DigitsScore(data.cache) if data.dataset == "digits" and data.shape[0] == 1 else None
            if self.digits is not None:
                print(f"fd_digits: a digit classifier with {self.digits.accuracy:.1%} held-out accuracy; "
                      f"{DIGITS_HELDOUT} held-out real digits score {self.digits.floor:.4g} (the floor)")
            self.fid_net = load_fid_net(fid_weights, device) if fid_weights != "none" else None
            if self.fid_net is not None or self.fid_stats:  # a --fid-stats file is checked even without FID
                self.real_stats = self.real_fid_statistics()
        if data.kind != "toy":  # a fixed set of training items and, where there are any, of held-out ones
            fixed = torch.randperm(len(data.items), generator=torch.Generator().manual_seed(5))[:self.n]
            self.real_points = {"train": data.items[fixed.to(data.items.device)]}
            if data.heldout is not None and len(data.heldout):
                self.real_points["heldout"] = data.heldout[:self.n]

    def real_fid_statistics(self):
        """mu/sigma of the real set: from --fid-stats (TTUR's or pytorch-fid's .npz), else computed once and cached."""
        if self.fid_stats:
            try:
                with np.load(self.fid_stats) as saved:
                    return saved["mu"], saved["sigma"]
            except (OSError, KeyError, ValueError) as e:
                fail(f"--fid-stats {self.fid_stats}: not an .npz with mu and sigma ({type(e).__name__})")
        items = self.data.items
        key = hashlib.sha1(f"{tuple(items.shape)}|{items.dtype}|".encode())  # every pixel of every image
        for chunk in items.split(4096):
            key.update(chunk.cpu().numpy().tobytes())
        stats = cached(self.data.cache, "fid_stats", key.digest(), lambda: dict(zip(("mu", "sigma"), fid_statistics(
            self.fid_net, (self.data.convert(b) for b in items.split(250))))))
        return stats["mu"], stats["sigma"]

    def __call__(self, step, quick=False):
        """The metrics at `step`, and samples written to the run folder. quick (on a stop signal): no FID."""
        if not self.enabled:
            return {}
        (generator, critic), z_dim, folder = map(unwrap, self.nets), self.z_dim, self.run.dir
        with_fid = self.data.kind == "image" and self.fid_net is not None and not quick
        scored = self.data.kind != "image" or with_fid or self.digits is not None
        needed = self.n if scored else 64  # images without a score: the grid only
        # text: in batches of --batch-size, as the original samples (its first two batch norms use batch statistics)
        samples = generate(generator, z_dim, needed, self.device, self.data.batch_size if self.data.kind == "text"
                           else 512)
        metrics = self.critic_estimates(critic, samples) if scored else {}
        if self.data.kind == "toy":
            points = samples.cpu().numpy()
            if not (np.abs(points) < 1e15).all():  # inf, NaN, or so large that the W1 matching overflows
                fail(f"the generator's samples are not finite at iteration {step} (its weights overflowed: lower "
                     "the learning rate or the penalty weight)")
            metrics.update(toy_scores(points, self.data.dataset, self.reference), w1_floor=round(self.w1_floor, 5))
            plot_toy(os.path.join(folder, f"toy_{step:07d}.png"), critic, self.reference, points,
                     f"{os.path.basename(folder)}  iteration {step}", self.device)
        elif self.data.kind == "text":
            indices = samples.argmax(1)  # (n, seq_len): argmax decoding
            for n in range(1, 7):
                metrics[f"js{n}"] = round(self.ngrams.jsd(indices, n), 5)
            metrics.update(text_collapse_scores(indices))
            metrics.update({k: round(v, 5) for k, v in self.bayes.items()})
            lines = decode_text(indices[:100], self.data.chars)
            write_atomically(os.path.join(folder, f"samples_{step:07d}.txt"), lambda f: f.write("\n".join(lines) + "\n"))
        else:
            if with_fid:
                mu, sigma = fid_statistics(self.fid_net, samples.split(250))
                metrics["fid"] = round(frechet_distance(mu, sigma, *self.real_stats), 3)
            if self.digits is not None:
                metrics.update(self.digits(samples), fd_digits_floor=self.digits.floor)
            import torchvision
            write_atomically(os.path.join(folder, f"samples_{step:07d}.png"), lambda f: torchvision.utils.save_image(
                samples[:64].float().cpu(), f, format="png", nrow=8, normalize=True, value_range=(-1, 1)), binary=True)
        return metrics


    @torch.no_grad()
    def critic_estimates(self, critic, fake):
        """The critic's Wasserstein estimate E f(real) - E f(fake), i.e. its negative loss without a penalty, on the
        evaluation's generated samples and fixed real points: `w_distance_train` on training items, and
        `w_distance_heldout` on items the nets never see (toys: fresh points; text: held-out lines; images: the
        rest of --train-size). A gap between the two is the critic overfitting (WGAN-GP Figure 5(b))."""
        was_training = critic.training
        critic.eval()
        mean_score = lambda x: torch.cat([critic(b).reshape(len(b)).float() for b in x.split(512)]).mean()
        f_fake = mean_score(fake.to(self.device))
        out = {}
        for name, items in self.real_points.items():
            real = items.to(self.device) if self.data.kind == "toy" else self.data.convert(items)
            out[f"w_distance_{name}"] = round((mean_score(real) - f_fake).item(), 6)
        critic.train(was_training)
        return out


@torch.no_grad()
def plot_toy(path, critic, real, fake, title="", device="cpu", limit=2.0):
    """One picture: the critic's level sets, real points (orange) and generated points (green)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    grid = np.linspace(-limit, limit, 128)
    xx, yy = np.meshgrid(grid, grid)
    points = torch.as_tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32, device=device)
    was_training = critic.training
    critic.eval()
    values = critic(points).cpu().numpy().reshape(xx.shape)
    critic.train(was_training)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contour(xx, yy, values, levels=20, linewidths=0.8)
    ax.scatter(real[:, 0], real[:, 1], s=2, c="orange", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="green", label="generated")
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper right", fontsize=7)
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"), binary=True)
    plt.close(fig)


# =====================================================================================
# Run plumbing: errors, arguments, device, seeding, the run folder, files, caches
# =====================================================================================
# The promises it keeps are docs/usage.md's "What a run survives", each with its test in tests/test_faults.py.

def run_cli(main):
    """`common.run_cli(main)`: bad input, disk and memory trouble are one `error:` line and exit status 2; a second
    Ctrl-C exits 130; a run stopped by SIGINT / SIGTERM after its checkpoint exits 128 + the signal."""
    Run.cli = getattr(sys.modules.get("__main__"), "main", None) is main  # the script's own: the process ends with it
    try:
        main()
    except BaseException as e:
        run = Run.current
        if run is not None:
            run.release()
        if isinstance(e, KeyboardInterrupt):
            kept = run is not None and os.path.exists(run.path("checkpoint.pt"))
            print("error: interrupted; " + (f"the last checkpoint is kept: python {run.script}.py --resume {run.dir}"
                                            if kept else "no checkpoint was written yet"), file=sys.stderr)
            sys.exit(130)
        if isinstance(e, UserError):
            message = str(e)
        elif isinstance(e, OSError):  # without a file name: TensorBoard's writer, in the run folder
            where = e.filename or (run.dir if run is not None else None)
            message = (f"{where}: " if where else "") + (e.strerror or type(e).__name__)
        elif isinstance(e, (torch.OutOfMemoryError, MemoryError)):
            message = "out of memory; try a smaller --batch-size, --width or --eval-samples (or --amp bf16)"
        else:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    run = Run.current
    if run is not None and run.stop_signal is not None and run.saved_step != run.args.iters:
        sys.exit(128 + run.stop_signal)  # stopped early (a signal after the final checkpoint: finished, exit 0)


# ---- arguments ------------------------------------------------------------------------------------------------


def arg(default, help, choices=None):
    """A dataclass field with its --help text (and optional choices)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclasses.dataclass
class Plumbing:
    """The run settings every script has, added by `parse_args` after the method's own `Args`."""
    eval_every: Optional[int] = arg(None, "evaluate, write samples and a checkpoint every N iterations")
    eval_samples: Optional[int] = arg(None, "samples per evaluation (toy 1000, text 6400, images 10000)")
    checkpoint_minutes: float = arg(10.0, "also write a checkpoint every this many minutes (a preempted run loses "
                                          "minutes, not an --eval-every interval)")
    seed: int = arg(1, "seed of python, numpy and torch")
    device: str = arg("auto", "cuda if available, else cpu")
    amp: str = arg("none", "bf16: nets in bfloat16 autocast (scores, norms, losses in float32)", choices=("none", "bf16"))
    runs_dir: str = arg("runs", "where run folders go")
    cache_dir: Optional[str] = arg(None, "cache of decoded images, n-gram counts, FID statistics (default: RUNS_DIR/.cache)")
    run_name: Optional[str] = arg(None, "run folder name (default: script__dataset__seed__time)")
    resume: Optional[str] = arg(None, "run folder to continue from its checkpoint.pt (with its own settings)")
    threads: Optional[int] = arg(None, "CPU threads for torch (default: $OMP_NUM_THREADS, else half the CPUs)")
    log_every: int = arg(10, "TensorBoard scalars (losses, penalty, W estimate, grad norms, it/s) every N iterations")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise UserError(f"{message} (see --help)")


def field_types(args_class):
    """Each field's type, Optional[T] -> T."""
    return {name: next(t for t in typing.get_args(kind) or (kind,) if t is not type(None))
            for name, kind in typing.get_type_hints(args_class).items()}


def parse_args(args_class, argv, defaults, *, about=""):
    """The run's settings: the method's `Args` and the `Plumbing` fields (`lr_critic` -> `--lr-critic`, booleans
    `--flag/--no-flag`) from the command line, then the row of `defaults` for the data kind ("toy", "image",
    "text"; "blog" under `--schedule blog`; "<kind> embedded" on top where no --data-root is given: a CPU-sized
    miniature on embedded data; "<flag>=<value>" on top where a flag has that value, e.g. "mode=wgan"), or with
    `--resume RUN` RUN/args.json. --help shows `about`, the method's settings, then the run's."""
    module = sys.modules.get(args_class.__module__)
    script = os.path.splitext(os.path.basename(getattr(module, "__file__", None) or ""))[0]
    args_class = dataclasses.make_dataclass(args_class.__name__, [
        (f.name, f.type, f) for f in dataclasses.fields(Plumbing)], bases=(args_class,))
    parser = _Parser(description=about, formatter_class=argparse.RawDescriptionHelpFormatter,
                     allow_abbrev=False)  # flags exactly as written: --resume checks which ones were given
    group, types = parser, field_types(args_class)
    for field in dataclasses.fields(args_class):
        group = parser.add_argument_group("run") if field.name == "eval_every" else group  # the Plumbing fields
        kind, choices = types[field.name], field.metadata.get("choices")
        shown = field.default if field.default is not None else ", ".join(
            f"{row} {d[field.name]}" for row, d in defaults.items() if field.name in d)
        group.add_argument("--" + field.name.replace("_", "-"), default=field.default, choices=choices,
                           help=field.metadata.get("help", "") + (f" (default: {shown})" if shown != "" else ""),
                           **({"action": argparse.BooleanOptionalAction} if kind is bool else
                              {"type": kind, "metavar": None if choices else kind.__name__.upper()}))
    argv = sys.argv[1:] if argv is None else list(argv)
    args = args_class(**vars(parser.parse_args(argv)))
    given = {action.dest for action in parser._actions for opt in action.option_strings
             if any(a == opt or a.startswith(opt + "=") for a in argv)}
    args.given = given  # the flags on the command line (not a setting: args.json does not keep it)
    if args.resume is not None:
        args = resumed_args(args, given, script)
    kind, fields = data_kind(args.dataset), {f.name for f in dataclasses.fields(args)}
    if not args.resume:
        if kind == "image" and args.data_root is None and args.dataset != "digits":
            if "dataset" in given:
                fail(f"--dataset {args.dataset} needs its data: {IMAGE_HINT[args.dataset]}")
            args.dataset = "digits"  # the script's dataset needs --data-root: the embedded miniature instead
        row = defaults[kind]
        if "schedule" in fields and args.schedule == "blog":
            if kind != "toy":
                fail("--schedule blog is the notebook's 2D-toy setting; use it with a toy --dataset")
            row = defaults["blog"]
        elif kind != "toy" and args.data_root is None:
            row = {**row, **defaults.get(f"{kind} embedded", {})}
        for key, overlay in defaults.items():  # a "flag=value" row applies on top where that flag has that value
            name, _, value = key.partition("=")
            if value and name in fields and str(getattr(args, name)) == value:
                row = {**row, **overlay}
        fill_defaults(args, row)
    if args.eval_samples is None:
        args.eval_samples = EVAL_SAMPLES[kind]
    if "image_size" in fields and args.image_size is None and kind == "image":
        args.image_size = IMAGE_SIZE[args.dataset]
    if kind == "image" and args.eval_samples < 2:
        fail(f"--eval-samples {args.eval_samples}: image scores (FID, fd_digits) need at least 2 samples")
    if kind == "toy" and args.data_root is not None:
        fail(f"--data-root is for images and text; --dataset {args.dataset} is a 2D toy, generated on the fly")
    given_value, unused = dataclasses.asdict(args).get, f"; --dataset {args.dataset} does not use it"
    for message, wrong in {  # settings that would be recorded and do nothing: one line instead
            "--critic-norm is for the image critics" + unused: kind != "image" and given_value(
                "critic_norm", "none") != "none",
            "--generator-batch-norm is for the text generator" + unused: kind != "text" and given_value(
                "generator_batch_norm"),
            "--image-size is for image data" + unused: kind != "image" and given_value("image_size") is not None,
            "--fid-weights and --fid-stats are for image data (FID)" + unused: kind != "image" and (
                given_value("fid_weights") not in (None, "none") or given_value("fid_stats") is not None),
            f"--image-size 28 trains the MNIST nets, which take one channel; {args.dataset} is in colour: pass "
            "--image-size 32 or 64": kind == "image" and given_value("image_size") == 28 and args.dataset not in (
                "mnist", "digits")}.items():
        if wrong and not args.resume:
            fail(message)
    for flag, folder in (("--runs-dir", args.runs_dir), ("--cache-dir", args.cache_dir)):
        if folder and os.path.exists(folder) and not os.path.isdir(folder):
            fail(f"{flag} {folder} is a file, not a folder")
    args.cache_dir = args.cache_dir or os.path.join(args.runs_dir, ".cache")  # never the data folder
    set_threads(args)
    return args


def start_notes(args, paper, note=None):
    """What a new run prints first: on embedded data, that it is a CPU-sized miniature and the command of the
    paper's setting (`paper`: {"image": ..., "text": ...}), and `note[kind]` on what the demo trains."""
    kind = data_kind(args.dataset)
    if args.resume or dataclasses.asdict(args).get("schedule") == "blog" or (kind != "toy" and args.data_root):
        return []
    command = paper.get("text" if kind == "text" else "image")
    paper_line = (f"the paper's setting on real data: {command}" if command else
                  f"the paper has no {'text' if kind == 'text' else 'image'} experiment")
    first = (f"{args.dataset}, a 2D toy; " if kind == "toy" else
             f"no --data-root: a CPU-sized miniature on embedded data ({args.dataset}); ")
    return [first + paper_line] + ([note[kind]] if note and kind in note else [])


RESUME_MAY_CHANGE = ("iters", "device", "threads", "log_every", "checkpoint_minutes", "resume")
MAX_ITERS = 10 ** 9


def resumed_args(args, given, script):
    """--resume RUN: the settings in RUN/args.json, with --iters, --device, --threads, --log-every and
    --checkpoint-minutes from the command line if given; a run of another script is one line naming it."""
    others = sorted(name for name in given if name not in RESUME_MAY_CHANGE)
    if others:
        fail("--resume continues a run with its own settings; only --iters, --device, --threads, --log-every and "
             "--checkpoint-minutes may be given with it, not " + ", ".join("--" + n.replace("_", "-") for n in others))
    if not os.path.isfile(os.path.join(args.resume, "checkpoint.pt")):
        fail(f"--resume {args.resume}: no checkpoint.pt there")
    try:
        with open(os.path.join(args.resume, "args.json"), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"--resume {args.resume}: its args.json cannot be read ({type(e).__name__})")
    writer = saved.get("run", {}).get("script") if isinstance(saved.get("run"), dict) else None
    if script and writer and writer != script:
        fail(f"--resume {args.resume} was written by {writer}, not {script}: python {writer}.py --resume {args.resume}")
    for field in dataclasses.fields(args):
        if field.name in saved and not (field.name in given and field.name in RESUME_MAY_CHANGE):
            setattr(args, field.name, saved[field.name])
    args.resume = os.path.normpath(args.resume)
    return fill_defaults(args, {})


def fill_defaults(args, defaults):
    """Set every field still None from `defaults`, then check the numbers by their type: counts positive (the
    seed in numpy's range, --iters at most 10^9), learning rates in (0, 1e30), Adam's betas in [0, 1), every other
    number (penalty weights) finite and >= 0."""
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name, value in dataclasses.asdict(args).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or name == "threads":
            continue
        if name == "seed" and not 0 <= value < 2 ** 32:
            fail(f"--seed must be in 0 .. 2^32 - 1 (numpy's range), got {value}")
        elif isinstance(value, int) and name != "seed" and value <= 0:
            fail(f"{flag} must be positive, got {value}")
        elif name == "iters" and value > MAX_ITERS:
            fail(f"--iters {value}: at most {MAX_ITERS:,} iterations")
        elif name.startswith("lr_") and not 0 < value < 1e30:
            fail(f"{flag} must be a positive number below 1e30, got {value}")
        elif name.startswith("beta") and not 0 <= value < 1:
            fail(f"{flag} must be in [0, 1), got {value}")
        elif isinstance(value, float) and not (math.isfinite(value) and value >= 0):
            fail(f"{flag} must be a finite number >= 0, got {value}")
    name = args.run_name
    if name is not None and (not name or os.sep in name or name in (".", "..") or (os.altsep and os.altsep in name)):
        fail(f"--run-name {name!r} must be a plain folder name (no '/', not '..')")
    return args


def set_threads(args):
    """--threads, default $OMP_NUM_THREADS, else half the CPUs (two seeds side by side do not wait on each other)."""
    if args.threads is None:
        omp = os.environ.get("OMP_NUM_THREADS", "")
        args.threads = int(omp) if omp.isdigit() and int(omp) > 0 else max(1, (os.cpu_count() or 1) // 2)
    if not 1 <= args.threads <= 1024:
        fail(f"--threads must be in 1 .. 1024, got {args.threads}")
    torch.set_num_threads(args.threads)


# ---- device, torchrun, seeding -----------------------------------------------------------------------------


def world_size():
    return int(os.environ.get("WORLD_SIZE", "1"))  # how many processes torchrun started


def rank():
    import torch.distributed as dist
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def setup_distributed():
    """Under `torchrun --nproc_per_node=N`: join the process group (NCCL on CUDA, gloo on CPU); this rank."""
    import torch.distributed as dist
    if world_size() > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank()


def distribute(net, device):
    """The net on its device; under torchrun wrapped in DistributedDataParallel, which averages the gradients of
    each ordinary backward (the penalties take input gradients with torch.autograd.grad, never
    backward(create_graph=True))."""
    net = net.to(device)
    if world_size() == 1:
        return net
    return nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap(net):
    return getattr(net, "module", net)


def rank_mean_grad(loss, params, retain_graph=False):
    """torch.autograd.grad of `loss` for `params` (zeros where a parameter does not reach it), averaged over the
    torchrun processes: DistributedDataParallel averages what .backward() computes, not torch.autograd.grad."""
    import torch.distributed as dist
    grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params)]
    if dist.is_available() and dist.is_initialized():
        for g in grads:
            dist.all_reduce(g)
        grads = [g / dist.get_world_size() for g in grads]
    return grads


def pick_device(name="auto", amp="none"):
    """torch.device for --device (auto: cuda when present); --amp bf16 needs bfloat16 hardware on CUDA."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if not (name in ("cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())):
        fail(f"--device {name}: choose auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        fail(f"--device {name} asked for, but CUDA is not available here")
    if name == "cuda" and world_size() > 1:
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"  # torchrun: one GPU per process
        torch.cuda.set_device(torch.device(name))
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        fail(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if name.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed shapes every step: let cuDNN pick its fastest kernels
        if amp == "bf16" and not torch.cuda.is_bf16_supported():
            fail(f"--amp bf16: {torch.cuda.get_device_name()} has no bfloat16 support; leave --amp at none")
    elif amp == "bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        print("warning: --amp bf16: this CPU has no native bfloat16 support; expect it slower than float32",
              file=sys.stderr)
    return torch.device(name)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def numpy_state(state, plain=True):
    """A numpy RandomState state as plain values and a tensor (which torch.load(weights_only=True) reads), and back."""
    name, keys, *rest = state
    return [name, torch.from_numpy(keys.astype(np.int64)), *rest] if plain else (name, keys.numpy().astype(np.uint32),
                                                                                  *rest)


def rng_state():
    return {"python": random.getstate(), "numpy": numpy_state(np.random.get_state()), "torch": torch.get_rng_state(),
            **({"cuda": torch.cuda.get_rng_state_all()} if torch.cuda.is_available() else {})}


def set_rng_state(state):
    random.setstate(state["python"])
    np.random.set_state(numpy_state(state["numpy"], plain=False))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---- the run folder: args.json, metrics.csv, TensorBoard, checkpoint.pt, the lock, stop signals ----------------


def train_scalars(terms, generator, critic):
    """The loss terms and both nets' gradient norms (their last step) as floats, in one transfer from the device."""
    names, values = list(terms), [t.detach().float().reshape(()) for t in terms.values()]
    for name, net in (("critic_grad_norm", critic), ("generator_grad_norm", generator)):
        grads = [p.grad.detach().float() for p in net.parameters() if p.grad is not None]
        if grads:
            names.append(name)
            values.append(torch.sqrt(sum(g.pow(2).sum() for g in grads)).reshape(()).to(values[0].device))
    return dict(zip(names, torch.stack(values).tolist()))


def run_record(state):
    """What ran: the device the nets are on, threads, versions, the git commit of this code (in a clone)."""
    import subprocess
    device = next(unwrap(state["critic"]).parameters()).device if "critic" in state else torch.device("cpu")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)),
                            capture_output=True, text=True).stdout.strip() or None
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    return {"device_used": f"{device}{gpu}", "world_size": world_size(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "git_commit": commit,
            "host": platform.node(), "started": f"{datetime.datetime.now():%Y-%m-%d %H:%M:%S}"}


class Run:
    """runs/<script>__<dataset>__<seed>__<time>/ with args.json, metrics.csv, samples, TensorBoard events,
    checkpoint.pt and .lock (held while a process trains there). Under torchrun only rank 0 writes."""

    current = None  # the Run of this process, for run_cli's clean-up and exit status
    cli = False     # run by run_cli: the process exits when the run ends

    def __init__(self, script, args, paper=None, note=None):
        self.script, self.args, self.writes = script, args, rank() == 0
        self.notes = start_notes(args, paper or {}, note)  # printed by `start`
        name = args.run_name or f"{script}__{args.dataset}__{args.seed}__{datetime.datetime.now():%Y%m%d-%H%M%S}"
        self.dir = args.resume or os.path.join(args.runs_dir, name)
        self.lock_file, self.tb = None, None
        self.start_time, self.elapsed_before = time.time(), 0.0  # wall-clock seconds of a resumed run's earlier parts
        self.stop_signal = None  # the Ctrl-C / SIGTERM that arrived in this process (run_cli exits 128 + it)
        self.stopping = False    # checkpoint_due saw a stop signal (on any rank): the loop ends after this iteration
        self.train, self.last_log = None, None  # the latest iteration's terms; (iteration, time) of the last log
        self.train_at_checkpoint = {}  # a resumed checkpoint's loss terms, for the row of its evaluation
        self.saved_step, self.saved_time = None, time.time()  # the last checkpoint this process wrote, and when
        Run.current = self
        if self.writes and not args.resume and args.run_name and os.path.exists(self.path("checkpoint.pt")):
            fail(f"run folder {self.dir} exists already; pass --resume {self.dir} to continue it, or a new --run-name")

    def path(self, name):
        return os.path.join(self.dir, name)

    def make_folder(self):
        """A named run takes its folder (one without a checkpoint is a dead start: reused once no process holds its
        lock); an auto-named run that meets a folder of its name takes the next free suffix."""
        os.makedirs(self.args.runs_dir, exist_ok=True)
        if self.args.run_name:
            os.makedirs(self.dir, exist_ok=True)
            self.lock()  # then a dead start's TensorBoard events and rows go: this run starts them again
            for leftover in glob.glob(os.path.join(glob.escape(self.dir), "events.out.tfevents.*")) + [
                    p for p in [self.path("metrics.csv")] if os.path.exists(p)]:
                os.remove(leftover)
            return
        base, suffix = self.dir, 2
        while True:
            try:
                return os.mkdir(self.dir)  # atomic: two runs started in the same second get two folders
            except FileExistsError:
                self.dir, suffix = f"{base}-{suffix}", suffix + 1

    def lock(self):
        """Hold an exclusive lock on RUN/.lock until `release` or this process's exit; a second process is refused."""
        import fcntl
        self.lock_file = open(self.path(".lock"), "a+")
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock_file.seek(0)
            holder = self.lock_file.read().strip() or "another process"
            self.lock_file.close()
            self.lock_file = None
            fail(f"{self.dir} is in use by {holder}; wait for it to end (or stop it), or pass a new --run-name")
        if self.writes and not self.args.resume and os.path.exists(self.path("checkpoint.pt")):
            fail(f"run folder {self.dir} exists already; pass --resume {self.dir} to continue it, or a new --run-name")
        self.lock_file.truncate(0)
        self.lock_file.write(f"process {os.getpid()} on {platform.node()} since {datetime.datetime.now():%H:%M:%S}\n")
        self.lock_file.flush()

    def release(self):
        """Let go of the lock and TensorBoard (a full disk there is reported already); then Ctrl-C / SIGTERM do
        nothing under run_cli (the run's files are final: the exit status stays the run's), else their defaults."""
        for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signum, signal.SIG_IGN if Run.cli else default)
        for thing in (self.tb, self.lock_file):
            with contextlib.suppress(Exception):
                thing is not None and thing.close()
        self.tb, self.lock_file = None, None

    def seconds(self):
        return self.elapsed_before + time.time() - self.start_time

    def start(self, evaluate=None, **state):
        """Make and lock the run folder. A new run: write args.json, return 0. A resumed run: load checkpoint.pt
        into the given objects (nets, optimisers, data stream) and the RNGs, drop the metrics.csv rows logged after
        it, evaluate it if its row is missing (a kill between the checkpoint and the row), note the resume in
        args.json, return its step. From then on Ctrl-C / SIGTERM ask the loop to stop and save."""
        self.start_time, step = time.time(), 0
        state = {k: v for k, v in state.items() if v is not None}  # e.g. no generator optimiser: nothing to keep
        if self.writes:
            if not self.args.resume:
                self.make_folder()
            if self.lock_file is None:
                self.lock()
            for leftover in glob.glob(os.path.join(glob.escape(self.dir), ".*.tmp")):  # our killed writes' copies
                os.remove(leftover)
        if self.args.resume:
            step, evaluated = self.load_checkpoint(state)
            if self.args.iters < step:
                fail(f"{self.dir} is at iteration {step}; --iters {self.args.iters} is below it: pass --iters N "
                     f"above {step} to train further")
            if rank() != 0:  # every rank resumed rank 0's streams: give each its own again
                seed_everything(self.args.seed + rank() + step)
        rows = read_metrics_rows(self.path("metrics.csv")) if step else []
        missing = bool(step) and evaluated and evaluate is not None and not any(
            int(r["iteration"]) == step for r in rows)
        if step == self.args.iters and not missing:
            print(f"{self.dir} has already finished its {step} iterations; pass --iters N to train further")
            self.catch_stop_signals()
            return step
        if self.writes:
            self.args.run_name = os.path.basename(self.dir)
            record, run = dataclasses.asdict(self.args), {"script": self.script, **run_record(state)}
            if step:  # the rows logged after this checkpoint will be logged again: one row per evaluation
                write_metrics_rows(self.path("metrics.csv"), [r for r in rows if int(r["iteration"]) <= step])
                with open(self.path("args.json"), encoding="utf-8") as f:
                    saved = json.load(f)
                changed = {k: v for k, v in record.items() if k in saved and saved[k] != v and k != "resume"}
                record = {**saved, **changed, "resumes": saved.get("resumes", []) + [
                    {"iteration": step, "changed": changed, "run": run}]}
            else:
                record["run"] = run
            write_atomically(self.path("args.json"), lambda f: json.dump(record, f, indent=2))
            self.open_tensorboard(step, keep_step=not missing)
        if missing:  # killed between the checkpoint and its row: the same samples (fixed noise), the same row
            self.log_metrics(step, evaluate, due=True)
        for line in self.notes:  # what the CPU demo trains, how to run the paper's setting
            print(f"{self.script}: {line}")
        print(f"resumed {self.dir} at iteration {step}" if step else f"{self.script}: writing to {self.dir}")
        self.last_log = (step, time.time())  # the first logged iteration has its iterations/s too
        self.catch_stop_signals()
        return step

    def load_checkpoint(self, state):
        """checkpoint.pt into `state`'s objects and the RNGs (weights_only: nothing in it runs): (its step, whether a
        metrics row belongs to it). Another script's, other data's or other shapes' is one line."""
        path = self.path("checkpoint.pt")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            fail(f"{path} cannot be read ({type(e).__name__}): damaged, cut short, or not a checkpoint of this project")
        if not isinstance(payload, dict) or payload.get("script") != self.script:
            writer = payload.get("script") if isinstance(payload, dict) else None
            fail(f"{path} was written by {writer or 'something else'}, not {self.script}" + (
                f": python {writer}.py --resume {self.dir}" if writer else ""))
        if payload["dataset"] != self.args.dataset:
            fail(f"{path} was trained on {payload['dataset']!r}; args.json now says {self.args.dataset!r}: a resume "
                 "continues on the data it started with")
        for name, obj in state.items():
            try:
                unwrap(obj).load_state_dict(payload[name])
            except (RuntimeError, KeyError, ValueError) as e:
                fail(f"{path}: its {name} does not match this run's ({' '.join(str(e).split())[:300]})")
        set_rng_state(payload["rng"])
        self.train_at_checkpoint = payload["train"]
        self.elapsed_before = payload["seconds"]
        return payload["step"], payload.get("evaluated", True)

    def open_tensorboard(self, step, keep_step=True):
        """`tensorboard --logdir runs`; a resume hides the points after its checkpoint (and at it, unless keep_step)."""
        from torch.utils.tensorboard import SummaryWriter
        self.tb = SummaryWriter(self.dir, purge_step=(step + keep_step) if step else None)

    def catch_stop_signals(self):
        """Ctrl-C / SIGTERM ask the loop to stop at the end of the iteration (it then saves); a second stops now."""
        def handler(signum, frame):
            if self.stop_signal is not None:
                raise KeyboardInterrupt
            self.stop_signal = signum
            print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this iteration", file=sys.stderr)
        with contextlib.suppress(ValueError):  # not the main thread (a test runner's)
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, handler)

    # -- the loop

    def steps(self, start):
        """start .. args.iters - 1 with a progress bar; ends after the iteration in which a stop signal was seen."""
        from tqdm import tqdm
        try:
            for step in tqdm(range(start, self.args.iters), initial=start, total=self.args.iters, dynamic_ncols=True,
                             mininterval=1.0):
                yield step
                if self.stopping:
                    return
        finally:
            self.release()

    def raise_if_not_finite(self, step, scalars):
        """Stop with one line when a logged loss term is NaN or inf, naming the iteration and the terms."""
        bad = [name for name, value in scalars.items() if not math.isfinite(value) and not name.endswith("_grad_norm")]
        if bad:
            fail(f"non-finite {', '.join(bad)} at iteration {step}; stopping ({self.last_good_checkpoint()})")

    def last_good_checkpoint(self):
        kept = os.path.exists(self.path("checkpoint.pt"))
        return f"the last good checkpoint is {self.path('checkpoint.pt')}" if kept else "no checkpoint yet"

    def log_train(self, step, terms, generator, critic):
        """Keep the loss terms for metrics.csv; every --log-every iterations (one device sync) stop if one is not
        finite, and write them to TensorBoard with the nets' gradient norms and iterations/s."""
        self.train = (terms, generator, critic)
        if step % self.args.log_every and step != self.args.iters:
            return
        scalars = train_scalars(terms, generator, critic)
        self.raise_if_not_finite(step, scalars)
        if self.tb is not None:
            now = time.time()
            if self.last_log is not None and now > self.last_log[1]:
                scalars["iterations_per_second"] = (step - self.last_log[0]) / (now - self.last_log[1])
            self.last_log = (step, now)
            for name, value in scalars.items():
                self.tb.add_scalar(f"train/{name}", value, step)

    def evaluation_due(self, done):
        return done % self.args.eval_every == 0 or done == self.args.iters or self.stopping

    def checkpoint_due(self, done):
        """Save after `done` iterations? Every --eval-every, every --checkpoint-minutes, at the last one, and after a
        stop signal (read once per iteration: one all-reduce under torchrun, the same answer on every rank)."""
        stop, late = self.stop_signal is not None, time.time() - self.saved_time > 60 * self.args.checkpoint_minutes
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            flag = torch.tensor([float(stop), float(late)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop, late = bool(flag[0]), bool(flag[1])
        self.stopping = stop
        return self.evaluation_due(done) or late

    def save(self, step, **state):
        """checkpoint.pt, written atomically; a loss, weight or optimiser statistic gone inf/NaN stops the run with one
        line instead, and the last good checkpoint stays."""
        train = train_scalars(*self.train) if self.train else {}
        self.raise_if_not_finite(step, train)
        state = {k: v for k, v in state.items() if v is not None}
        states = {k: unwrap(v).state_dict() for k, v in state.items()}
        bad = [name for name, sd in states.items() if not all_finite(sd)]
        if bad:
            fail(f"non-finite values in {', '.join(bad)} after iteration {step} (an optimiser step overflowed: lower "
                 f"the learning rate or the penalty weight); stopping ({self.last_good_checkpoint()})")
        if self.writes:
            self.flush_tensorboard()  # every point up to this step on disk before the checkpoint lands
            payload = {"script": self.script, "dataset": self.args.dataset, "step": step, "seconds": self.seconds(),
                       "evaluated": self.evaluation_due(step), "rng": rng_state(), "train": train, **states}
            write_atomically(self.path("checkpoint.pt"), lambda f: torch.save(payload, f), binary=True)
        self.saved_step, self.saved_time = step, time.time()

    def log_metrics(self, step, evaluate, due=None):
        """When due (every --eval-every, the last iteration, a stop: quick, no FID), `evaluate` and write one
        metrics.csv row: iteration, seconds, the latest loss terms, the metrics. TensorBoard's points go first."""
        if not (self.evaluation_due(step) if due is None else due):
            return
        metrics = evaluate(step, quick=self.stopping)
        if not self.writes:
            return
        train = train_scalars(*self.train) if self.train else self.train_at_checkpoint
        row = {"iteration": step, "seconds": round(self.seconds(), 2),
               **{k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in {**train, **metrics}.items()}}
        if self.tb is not None:
            for name, value in {**(train if due else {}), **metrics}.items():
                if isinstance(value, (int, float)) and not name.endswith(("_bayes", "_floor")):
                    self.tb.add_scalar(f"{'eval' if name in metrics else 'train'}/{name}", value, step)
            self.flush_tensorboard()
        append_metrics_row(self.path("metrics.csv"), row)
        from tqdm import tqdm
        tqdm.write(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                             if k in ("iteration", "seconds", "w_distance") or k in metrics
                             and not k.endswith(("_bayes", "_floor"))))

    def flush_tensorboard(self):
        try:
            if self.tb is not None:
                self.tb.flush()
        except OSError as e:
            fail(f"TensorBoard events cannot be written in {self.dir} ({e.strerror or e})")


# ---- files: metrics.csv, atomic writes, caches ---------------------------------------------------------------


def read_metrics_rows(path):
    """metrics.csv as dicts (a spreadsheet's byte-order mark aside); a row cut short by a kill is left out."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8-sig", newline="") as f:
        text = f.read()
    whole = io.StringIO(text[:text.rfind("\n") + 1])  # a last line without its newline was cut short
    return [r for r in csv.DictReader(whole) if None not in r.values() and (r.get("iteration") or "").isdigit()]


def append_metrics_row(path, row):
    """Add one row to metrics.csv, on the disk before the next step: appended when the header has its columns,
    else the file is rewritten whole with the new column (`write_metrics_rows`). A failed write is an error."""
    if os.path.exists(path):
        with open(path, encoding="utf-8-sig") as f:
            header = f.readline().rstrip("\r\n")
        if header == ",".join(row):
            line = io.StringIO()
            csv.writer(line).writerow(list(row.values()))
            try:
                with open(path, "a", encoding="utf-8") as f:
                    f.write(line.getvalue())
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:  # the error names the file; a part of the row there is dropped on a resume
                raise OSError(e.errno, e.strerror, path) from None
            return
    write_metrics_rows(path, read_metrics_rows(path) + [row])


def write_metrics_rows(path, rows):
    """metrics.csv rewritten whole (a few hundred rows at most): a kill leaves the old file or the new one, and a
    metric that first appears later (FID after a stop's quick evaluation) gets its column."""
    def write(f):
        writer = csv.DictWriter(f, list(dict.fromkeys(k for row in rows for k in row)), restval="")
        writer.writeheader()
        writer.writerows(rows)
    write_atomically(path, write)


def all_finite(state):
    """Every floating-point number in a (nested) state dict is finite."""
    if isinstance(state, torch.Tensor):
        return not state.is_floating_point() or bool(torch.isfinite(state).all())
    if isinstance(state, (dict, list, tuple)):
        return all(map(all_finite, state.values() if isinstance(state, dict) else state))
    return not isinstance(state, float) or math.isfinite(state)


def write_atomically(path, write, binary=False):
    """Write a file whole or not at all: write(f) into a uniquely named temporary file beside it (.NAME.XXXX.tmp),
    flushed to the disk, then renamed over `path`. A failure names the file; the old one, if any, is whole."""
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the run's files from the user's group
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": "", "encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), path) from None
    except RuntimeError as e:  # torch.save reports a failed write as a RuntimeError
        raise OSError(errno.EIO, f"cannot be written ({' '.join(str(e).split())[:120]})", path) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def cached(cache_dir, name, key, compute):
    """compute() (a dict of numpy arrays) once per key: kept in CACHE_DIR/<name>_<digest of key>.npz, where `key`
    holds everything the result is computed from (a changed input is another key). Without a cache folder, or on a
    full or read-only disk, it is computed each time."""
    if not cache_dir:
        return compute()
    key = key.encode() if isinstance(key, str) else key
    path = os.path.join(cache_dir, f"{name}_{hashlib.sha1(key).hexdigest()[:16]}.npz")
    if os.path.isfile(path):
        with np.load(path) as saved:
            return {k: saved[k] for k in saved.files}
    result = compute()
    with contextlib.suppress(OSError):  # only an optimisation
        os.makedirs(cache_dir, exist_ok=True)
        write_atomically(path, lambda f: np.savez(f, **result), binary=True)
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] not in ("-h", "--help"):
        print("error: common.py is not a script; run a method file (python wgangp.py --help), plot runs with "
              "python benchmarks/plot.py --help", file=sys.stderr)
        sys.exit(2)
    print(__doc__.strip() + "\n\nNot a script: run one of the method files, e.g. python wgangp.py --help.")
