"""Data on files the tests write: the 2D toys, image folders, MNIST / CIFAR-10 / CelebA layouts, One Billion Word,
the embedded corpus, the image cache, the resumable data stream."""
import os

import numpy as np
import pytest
import torch

import common
from helpers import write_billion_word


def test_text_loader_keeps_every_line_like_the_official_loader():
    lines = common.cut_and_pad(["a b", "", "   ", "x" * 40], 8)
    assert lines == ["a b`````", "````````", "````````", "xxxxxxxx"]


@pytest.mark.parametrize("dataset", common.TOYS)
def test_toy_data(dataset):
    data = common.make_data(dataset, None, 512, torch.device("cpu"), seed=0)
    batch = data.next()
    assert batch.shape == (512, 2) and batch.dtype == torch.float32
    centres = common.toy_centres(dataset)
    if centres is not None:  # every point within 5 std of a centre
        distance = torch.cdist(batch.double(), torch.as_tensor(centres)).min(1).values
        assert distance.max().item() < 5 * common.TOY_STD[dataset]
    else:
        assert 0.5 < batch.abs().max().item() < 2.5


def test_toy_8gaussians_matches_reference_construction():
    """gan_toy.py: centres (+-1,0),(0,+-1),(+-1/sqrt2,+-1/sqrt2) * scale 2, noise 0.02, all divided by 1.414."""
    centres = common.toy_centres("8gaussians") * 1.414 / 2
    assert np.allclose(np.sort(np.linalg.norm(centres, axis=1)), 1.0)
    assert len(np.unique(np.round(centres, 6), axis=0)) == 8


def test_digits_images():
    data = common.make_data("digits", None, 32, torch.device("cpu"), seed=0)
    batch = data.next()
    assert batch.shape == (32, 1, 28, 28)
    assert batch.min().item() >= -1 and batch.max().item() <= 1 and batch.min().item() == -1


def test_image_folder_loader(tmp_path):
    from PIL import Image
    rng = np.random.RandomState(0)
    (tmp_path / "sub").mkdir()
    for i in range(6):
        Image.fromarray(rng.randint(0, 255, (90, 70, 3), dtype=np.uint8)).save(tmp_path / "sub" / f"{i}.jpg")
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(tmp_path / "white.png")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    images = common.load_images("folder", str(tmp_path), 64)
    assert images.shape == (7, 3, 64, 64) and images.dtype == torch.uint8
    cache = tmp_path.parent / (tmp_path.name + "_cache")
    data = common.make_data("celeba", str(tmp_path), 4, torch.device("cpu"), seed=0, image_size=32, cache=str(cache))
    batch = data.next()
    assert batch.shape == (4, 3, 32, 32) and -1 <= batch.min() and batch.max() <= 1
    assert list(cache.glob("images_32px_*.npz")) and not list(tmp_path.glob("*.np[yz]"))  # cached, not in the data
    assert torch.equal(common.load_images("celeba", str(tmp_path), 32, str(cache)), data.items)


def test_image_loaders_fail_clearly(tmp_path):
    with pytest.raises(common.UserError, match="does not exist"):
        common.load_images("celeba", str(tmp_path / "missing"))
    with pytest.raises(common.UserError, match="no .jpg"):
        common.load_images("folder", str(tmp_path))
    with pytest.raises(common.UserError, match="needs its data"):
        common.load_images("mnist", None)
    with pytest.raises(common.UserError, match="cifar10 not found"):
        common.load_images("cifar10", str(tmp_path))
    with pytest.raises(common.UserError, match="larger than the dataset"):
        common.make_data("digits", None, 5000, torch.device("cpu"), seed=0)


def test_billion_word_loader(tmp_path):
    lines = ["The cat sat on the mat .", "A much longer line that goes on and on past thirty-two characters ."] * 5
    write_billion_word(tmp_path, lines + ["Ünïcode ☃ line"], heldout=["held out line ."])
    corpus = common.load_text(str(tmp_path), vocab_size=20)
    assert corpus["train"].shape == (11, 32) and corpus["vocab_size"] == 20
    assert corpus["chars"][0] == "unk"
    decoded = common.decode_text(corpus["train"][:2], corpus["chars"])
    assert decoded[0].startswith("The") and decoded[0].endswith("`")  # padded with '`'
    assert len(decoded[1]) == 32  # cut to 32
    assert "?" in common.decode_text(corpus["train"][10:], corpus["chars"])[0]  # rare chars -> unk
    assert corpus["heldout"].shape == (1, 32)
    data = common.make_data("text", str(tmp_path), 4, torch.device("cpu"), seed=0)
    batch = data.next()
    assert batch.shape == (4, data.vocab_size, 32) and torch.all(batch.sum(1) == 1)  # one-hot


def test_a_data_folder_whose_name_looks_like_a_glob_pattern(tmp_path):
    root = tmp_path / "bw[1]"  # '[1]' would be a character class to glob
    write_billion_word(root, ["a line of text ."] * 8, heldout=["held out ."])
    corpus = common.load_text(str(root))
    assert len(corpus["train"]) == 8 and len(corpus["heldout"]) == 1


def test_text_loader_max_lines_and_errors(tmp_path):
    write_billion_word(tmp_path / "bw", [f"line number {i}" for i in range(40)])
    corpus = common.load_text(str(tmp_path / "bw"), max_lines=25)  # no heldout shards: the last 10% held out
    assert corpus["train"].shape[0] + corpus["heldout"].shape[0] == 25 and corpus["heldout"].shape[0] == 2
    with pytest.raises(common.UserError, match="no One Billion Word shards"):
        common.load_text(str(tmp_path))
    with pytest.raises(common.UserError, match="does not exist"):
        common.load_text(str(tmp_path / "nope"))
    (tmp_path / "empty" / "training-monolingual.tokenized.shuffled").mkdir(parents=True)
    (tmp_path / "empty" / "training-monolingual.tokenized.shuffled" / "news.en-00001").write_text("\n  \n\n")
    with pytest.raises(common.UserError, match="no usable line"):
        common.load_text(str(tmp_path / "empty"))


def test_embedded_text_corpus():
    corpus = common.load_text(None)
    assert corpus["train"].shape[1] == 32 and len(corpus["train"]) > 5000 and len(corpus["heldout"]) > 2000
    assert corpus["vocab_size"] < 2048


def test_data_stream_state_round_trip():
    data = common.make_data("digits", None, 64, torch.device("cpu"), seed=3)
    for _ in range(30):  # crosses an epoch boundary (1797 images)
        data.next()
    state = data.state_dict()
    expected = [data.next() for _ in range(5)]
    other = common.make_data("digits", None, 64, torch.device("cpu"), seed=99)
    other.load_state_dict(state)
    assert all(torch.equal(a, other.next()) for a in expected)


def test_celeba_is_center_cropped_to_108_then_resized(tmp_path):
    """CelebA's aligned 178x218 images: the central 108x108 (the DCGAN/TTUR crop), resized to 64x64; any other
    folder keeps the largest centred square."""
    from PIL import Image
    picture = np.zeros((218, 178, 3), np.uint8)
    picture[55:163, 35:143] = 255  # the central 108x108 square is white
    Image.fromarray(picture).save(tmp_path / "000001.png")
    celeba = common.load_images("celeba", str(tmp_path), 64)
    assert celeba.shape == (1, 3, 64, 64) and celeba.min().item() == 255
    folder = common.load_images("folder", str(tmp_path), 64)
    assert folder.min().item() == 0


def test_mnist_loader_reads_torchvision_raw_files(tmp_path):
    """MNIST from ROOT/MNIST/raw/*-idx?-ubyte (what torchvision downloads), resized for the 28x28 nets."""
    import struct
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    pixels = np.random.RandomState(0).randint(0, 256, (10, 28, 28)).astype(np.uint8)
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, 10, 28, 28) + pixels.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, 10) + bytes(range(10)))
    images = common.load_images("mnist", str(tmp_path))
    assert images.shape == (10, 1, 28, 28) and torch.equal(images[:, 0], torch.from_numpy(pixels))
    assert common.load_images("mnist", str(tmp_path), 32).shape == (10, 1, 32, 32)


def test_cifar10_loader_reads_the_python_batches(tmp_path, monkeypatch):
    """CIFAR-10 from ROOT/cifar-10-batches-py (torchvision's format; its md5 check is bypassed for fake data)."""
    import pickle

    import torchvision.datasets.cifar
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.RandomState(1)
    batches = [rng.randint(0, 256, (4, 3072)).astype(np.uint8) for _ in range(5)]
    for i, data in enumerate(batches, 1):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps({"data": data, "labels": [0, 1, 2, 3]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    images = common.load_images("cifar10", str(tmp_path))
    assert images.shape == (20, 3, 32, 32)
    assert torch.equal(images[0], torch.from_numpy(batches[0][0].reshape(3, 32, 32)))  # channels kept in order


def write_images(folder, value, n=4):
    from PIL import Image
    folder.mkdir(exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(folder / f"{i}.png")


def test_image_cache_is_keyed_by_content_atomic_and_outside_the_data(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    write_images(data, 10)
    cache.mkdir()
    first = common.load_images("folder", str(data), 8, str(cache))
    assert int(first.float().mean()) == 10 and sorted(os.listdir(data)) == ["0.png", "1.png", "2.png", "3.png"]
    write_images(data, 200)  # the same file names, new pixels (and a new mtime / size)
    os.utime(data / "0.png", ns=(1, 1))
    assert int(common.load_images("folder", str(data), 8, str(cache)).float().mean()) == 200
    assert not [f for f in os.listdir(cache) if f.endswith(".tmp")]  # written whole, then renamed


def test_sixteen_bit_pngs_are_scaled_not_clipped(tmp_path):
    from PIL import Image
    folder = tmp_path / "deep"
    folder.mkdir()
    Image.fromarray(np.full((16, 16), 32768, np.uint16)).save(folder / "a.png")  # mid-grey in 16 bits
    images = common.load_images("folder", str(folder), 8)
    assert abs(images.float().mean().item() - 127.5) < 1.0


def test_a_symlink_loop_lists_each_image_once(tmp_path):
    folder = tmp_path / "imgs"
    write_images(folder, 50, n=3)
    os.symlink(folder, folder / "loop")
    assert len(common.image_files(str(folder))) == 3


def test_a_binary_corpus_is_refused(tmp_path):
    corpus = tmp_path / "bw"
    train = corpus / "training-monolingual.tokenized.shuffled"
    train.mkdir(parents=True)
    (train / "news.en-00001-of-00100").write_bytes(np.random.RandomState(0).randint(0, 256, 20000, np.uint8).tobytes())
    with pytest.raises(common.UserError, match="does not look like UTF-8 text"):
        common.load_text(str(corpus))


def test_a_dark_sixteen_bit_png_is_scaled_too(tmp_path):
    from PIL import Image
    folder = tmp_path / "dark"
    folder.mkdir()
    Image.fromarray(np.full((16, 16), 200, np.uint16)).save(folder / "a.png")  # 200 of 65535: nearly black
    assert common.load_images("folder", str(folder), 8).float().mean().item() <= 1.0  # 200 / 257 -> 1, not 200


def test_every_cache_is_keyed_by_what_it_was_computed_from(tmp_path):
    """Two corpora and two image folders in one cache folder: each gets its own entry, so a changed input can never
    be served another's numbers (the key holds the corpus's characters, the files' sizes and times)."""
    cache = tmp_path / "cache"
    lines, other = common.load_text()["train"][:200], common.load_text()["train"][200:400]
    built = common.NgramReference(lines, 120, 3, str(cache))
    theirs = common.NgramReference(other, 120, 3, str(cache))
    again = common.NgramReference(lines, 120, 3, str(cache))
    assert all(np.array_equal(a, b) for a, b in zip(again.counts, built.counts))
    assert not all(np.array_equal(a, b) for a, b in zip(theirs.counts, built.counts))
    assert len([f for f in cache.iterdir() if f.name.startswith("ngram")]) == 2
    for value in (10, 200):
        write_images(tmp_path / f"data{value}", value)
        assert int(common.load_images("folder", str(tmp_path / f"data{value}"), 8, str(cache)).float().mean()) == value
    assert int(common.load_images("folder", str(tmp_path / "data10"), 8, str(cache)).float().mean()) == 10


def test_named_pipes_among_the_data_are_never_opened(tmp_path):
    folder = tmp_path / "imgs"
    write_images(folder, 50, n=2)
    os.mkfifo(folder / "pipe.png")
    assert len(common.load_images("folder", str(folder), 8)) == 2  # skipped, not read (a read would block)
    root = tmp_path / "bw"
    write_billion_word(root, ["a line"] * 4)
    os.mkfifo(root / "training-monolingual.tokenized.shuffled" / "news.en-00003-of-00100")
    with pytest.raises(common.UserError, match="is not a regular file"):
        common.load_text(str(root))
    os.remove(root / "training-monolingual.tokenized.shuffled" / "news.en-00003-of-00100")
    (root / "heldout-monolingual.tokenized.shuffled").mkdir()
    os.mkfifo(root / "heldout-monolingual.tokenized.shuffled" / "news.en.heldout-00000-of-00050")
    with pytest.raises(common.UserError, match="heldout-00000-of-00050 is not a regular file"):
        common.load_text(str(root))


def test_the_stream_serves_every_item_once_per_epoch_even_the_last_full_batch():
    items = torch.arange(12, dtype=torch.int16)[:, None].repeat(1, 4)  # 12 "lines" of 4 characters
    data = common.TensorData(items, 4, torch.device("cpu"), 0, "text", vocab_size=12)
    for _ in range(3):  # three epochs of three batches each
        seen = torch.cat([data.next().argmax(1)[:, 0] for _ in range(3)])
        assert sorted(seen.tolist()) == list(range(12))


