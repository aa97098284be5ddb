"""CIFAR-10: the batch reader, the installer, ResNet-56, on tiny files the tests write."""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from common import cifar
from common import fetch as fetch_module
from common.data import load_dataset
from common.models import ResNet56, as_model_input, build_model
from common.params import get_flat, get_flat_grad, num_params, set_flat
from common.step import sign_step
from signfed.cli import build_parser
from signfed.cli import main as cli_main

PER_BATCH = 6  # images per tiny batch: 30 train, 6 test
MARKED = ("data_batch_2", 1, 2, 5, 7, 200)  # batch, image, channel (blue), row, col, value
MARKED_TRAIN_INDEX = PER_BATCH + 1  # image 1 of the second training batch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def batch_labels(name: str) -> list[int]:
    offset = 0 if name == cifar.TEST_BATCH else int(name[-1])
    return [(offset + i) % 10 for i in range(PER_BATCH)]


def batch_rows(name: str) -> np.ndarray:
    """(PER_BATCH, 3072) uint8 rows as stored on disk: R plane, G plane, B plane."""
    seed = sum(name.encode())
    rows = np.random.default_rng(seed).integers(0, 200, size=(PER_BATCH, 3072), dtype=np.uint8)
    batch, image, channel, row, col, value = MARKED
    if name == batch:
        rows[image, channel * 1024 + row * 32 + col] = value
    return rows


def py2_pickle(rows: np.ndarray, labels: list[int]) -> bytes:
    """A batch as Python 2's cPickle wrote the official files (protocol 2, numpy 1.x):
    str as BINSTRING (bytes under encoding="bytes"), numpy.core.multiarray._reconstruct."""

    def string(value: bytes) -> bytes:
        if len(value) < 256:
            return b"U" + bytes([len(value)]) + value
        return b"T" + struct.pack("<I", len(value)) + value

    def int1(value: int) -> bytes:
        return b"K" + bytes([value])

    shape = b"".join(b"M" + struct.pack("<H", n) if n > 255 else int1(n) for n in rows.shape)
    dtype = b"cnumpy\ndtype\n" + string(b"u1") + int1(0) + int1(1) + b"\x87R"
    dtype += b"(" + int1(3) + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + int1(0)
    dtype += b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + int1(0) + b"\x85"
    array += string(b"b") + b"\x87R(" + int1(1) + shape + b"\x86" + dtype + b"\x89"
    array += string(rows.tobytes()) + b"tb"
    label_list = b"](" + b"".join(int1(v) for v in labels) + b"e"
    return b"\x80\x02}(" + string(b"data") + array + string(b"labels") + label_list + b"u."


def write_folder(folder: Path, protocol: int = 2) -> Path:
    """A tiny cifar-10-batches-py; protocol 0 means Python 2's own bytes (py2_pickle)."""
    folder.mkdir(parents=True)
    for name in (*cifar.TRAIN_BATCHES, cifar.TEST_BATCH):
        rows, labels = batch_rows(name), batch_labels(name)
        if protocol == 0:
            payload = py2_pickle(rows, labels)
        else:
            batch = {b"batch_label": name.encode(), b"labels": labels, b"data": rows}
            payload = pickle.dumps(batch, protocol=protocol)
        (folder / name).write_bytes(payload)
    meta = {b"label_names": [b"airplane", b"automobile"], b"num_cases_per_batch": PER_BATCH}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def write_archive(path: Path, folder: Path, extra: dict[str, bytes] | None = None) -> str:
    """A .tar.gz of `folder` as cifar-10-batches-py/ (plus `extra` members); its MD5."""
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder, arcname=cifar.FOLDER)
        for name, content in (extra or {}).items():
            member = tarfile.TarInfo(name)
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_cifar10_loads_shapes_labels_and_standardised_pixels(tmp_path: Path, protocol: int) -> None:
    write_folder(tmp_path / "cifar10" / cifar.FOLDER, protocol)
    data = load_dataset("cifar10", tmp_path)
    assert data.train_x.shape == (30, 3, 32, 32) and data.test_x.shape == (6, 3, 32, 32)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert (data.num_classes, data.input_shape, data.name) == (10, (3, 32, 32), "cifar10")
    expected_train = [y for name in cifar.TRAIN_BATCHES for y in batch_labels(name)]
    assert data.train_y.tolist() == expected_train
    assert data.test_y.tolist() == [0, 1, 2, 3, 4, 5]
    _, _, channel, row, col, value = MARKED  # a CHW row lands at [channel, row, col]
    pixel = float(data.train_x[MARKED_TRAIN_INDEX, channel, row, col])
    assert pixel == pytest.approx((value / 255 - 0.4465) / 0.2616, abs=1e-6)
    red = float(batch_rows(cifar.TEST_BATCH)[3, 0])  # image 3, red plane, pixel (0, 0)
    assert float(data.test_x[3, 0, 0, 0]) == pytest.approx((red / 255 - 0.4914) / 0.2470, abs=1e-6)


def test_cifar10_is_found_as_a_bare_extraction_too(tmp_path: Path) -> None:
    write_folder(tmp_path / cifar.FOLDER)
    assert load_dataset("cifar10", tmp_path).train_x.shape == (30, 3, 32, 32)


def test_missing_cifar10_says_where_to_put_it_and_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("cifar10", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "cifar10" / cifar.FOLDER) in message
    assert "cifar-10-python.tar.gz" in message and "cs.toronto.edu/~kriz/cifar.html" in message
    assert "signfed fetch --dataset cifar10 --source" in message


def test_an_incomplete_folder_names_the_missing_batch(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "cifar10" / cifar.FOLDER)
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="lacks test_batch.*cifar-10-python.tar.gz"):
        load_dataset("cifar10", tmp_path)


@pytest.mark.parametrize(
    "batch, message",
    [
        ({b"data": np.zeros((6, 3071), np.uint8), b"labels": [0] * 6}, r"\(N, 3072\)"),
        ({b"data": np.zeros((6, 3072), np.uint8), b"labels": [0] * 5}, "6 images but labels"),
        ({b"data": np.zeros((6, 3072), np.uint8), b"labels": [0] * 5 + [10]}, "outside 0..9"),
        ({b"data": np.zeros((6, 3072), np.float32), b"labels": [0] * 6}, "uint8"),
        ({b"labels": [0] * 6}, "no dict with b'data'"),
    ],
)
def test_a_malformed_batch_is_a_value_error_naming_the_file(
    tmp_path: Path, batch: dict[bytes, object], message: str
) -> None:
    folder = write_folder(tmp_path / "cifar10" / cifar.FOLDER)
    (folder / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=f"data_batch_3: .*{message}"):
        load_dataset("cifar10", tmp_path)


def test_a_truncated_batch_is_a_value_error_naming_the_file(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "cifar10" / cifar.FOLDER)
    (folder / "test_batch").write_bytes((folder / "test_batch").read_bytes()[:1000])
    with pytest.raises(ValueError, match="test_batch: not a CIFAR-10 batch"):
        load_dataset("cifar10", tmp_path)


CALLS: list[str] = []


def record_call() -> None:
    CALLS.append("called")


class Payload:
    """Unpickles by calling record_call: what a hostile file would do with os.system."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (record_call, ())


def test_unpickling_refuses_any_other_global_and_calls_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Payload(), b"labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match="refusing global tests.unit.test_cifar.record_call"):
        cifar.read_batch(path)
    assert CALLS == []


def test_fetch_installs_a_verified_archive_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    digest = write_archive(archive, write_folder(tmp_path / "download" / cifar.FOLDER))
    monkeypatch.setattr(fetch_module, "CIFAR10_MD5", digest)
    data_dir = tmp_path / "data"
    folder = fetch_module.fetch("cifar10", data_dir, source=archive)
    assert folder == data_dir / "cifar10" / cifar.FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*cifar.TRAIN_BATCHES, cifar.TEST_BATCH, "batches.meta"]
    )
    assert [p.name for p in folder.parent.iterdir()] == [cifar.FOLDER]  # no .part left
    assert load_dataset("cifar10", data_dir).train_y.shape == (30,)
    archive.unlink()  # present and loading: the source is not needed again
    assert fetch_module.fetch("cifar10", data_dir, source=archive) == folder


def test_fetch_refuses_an_archive_whose_md5_is_not_the_official_one(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    digest = write_archive(archive, write_folder(tmp_path / "download" / cifar.FOLDER))
    fetch_module.verify_md5(archive, digest)  # the right digest passes
    with pytest.raises(fetch_module.ChecksumError, match=f"MD5 {digest} is not the expected"):
        fetch_module.fetch("cifar10", tmp_path / "data", source=archive)
    assert not (tmp_path / "data" / "cifar10" / cifar.FOLDER).exists()
    assert archive.is_file()  # the person's own download is left alone


def test_fetch_rejects_an_archive_member_that_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    folder = write_folder(tmp_path / "download" / cifar.FOLDER)
    digest = write_archive(archive, folder, {f"{cifar.FOLDER}/../../escaped": b"x"})
    monkeypatch.setattr(fetch_module, "CIFAR10_MD5", digest)
    with pytest.raises(RuntimeError, match="unsafe member name"):
        fetch_module.fetch("cifar10", tmp_path / "data", source=archive)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "data" / "escaped").exists()
    assert list((tmp_path / "data" / "cifar10").iterdir()) == []  # staging removed


def test_fetch_copies_an_extracted_folder_given_directly_or_by_its_parent(
    tmp_path: Path,
) -> None:
    folder = write_folder(tmp_path / "download" / cifar.FOLDER)
    for source in (folder, folder.parent):
        data_dir = tmp_path / f"data-{source.name}"
        installed = fetch_module.fetch("cifar10", data_dir, source=source)
        assert (installed / "data_batch_5").read_bytes() == (folder / "data_batch_5").read_bytes()


def test_fetch_refuses_a_broken_folder_and_installs_nothing(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "download" / cifar.FOLDER)
    (folder / "data_batch_4").write_bytes(b"not a pickle")
    with pytest.raises(RuntimeError, match="not a usable CIFAR-10 copy.*data_batch_4"):
        fetch_module.fetch("cifar10", tmp_path / "data", source=folder)
    assert list((tmp_path / "data" / "cifar10").iterdir()) == []


def test_cli_fetch_offers_cifar10_and_needs_a_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["fetch", "--dataset", "cifar10"])
    assert args.dataset == "cifar10"
    assert cli_main(["fetch", "--dataset", "cifar10", "--data-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "no package registry" in error and "--source" in error
    assert "cifar-10-python.tar.gz" in error


def test_resnet56_has_853018_parameters_and_no_running_statistics() -> None:
    model = build_model("resnet56", (3, 32, 32), 10, seed=0)
    assert isinstance(model, ResNet56)
    assert num_params(model) == 853_018
    assert list(model.buffers()) == []  # track_running_stats=False: nothing beside params
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 1 + 2 * 27
    assert all(bool((m.weight == 1).all()) and bool((m.bias == 0).all()) for m in norms)


def test_resnet56_is_seeded_and_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(99)
    expected = torch.rand(4)
    torch.manual_seed(99)
    first = get_flat(build_model("resnet56", (3, 32, 32), 10, seed=3))
    assert torch.equal(torch.rand(4), expected)
    second = get_flat(build_model("resnet56", (3, 32, 32), 10, seed=3))
    other = get_flat(build_model("resnet56", (3, 32, 32), 10, seed=4))
    assert first.tobytes() == second.tobytes()
    assert first.tobytes() != other.tobytes()


def test_resnet56_trains_on_channels_last_input_and_evaluates_on_batch_statistics() -> None:
    model = build_model("resnet56", (3, 32, 32), 10, seed=0)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 32, 32, generator=generator)
    y = torch.tensor([0, 1, 2, 3])
    logits = model(as_model_input(x))
    assert logits.shape == (4, 10)
    torch.testing.assert_close(logits, model(x), atol=1e-4, rtol=1e-4)  # NCHW, same values
    model.eval()  # no running statistics: eval normalises with the batch's own, as train
    torch.testing.assert_close(model(as_model_input(x)), logits, atol=0.0, rtol=0.0)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(as_model_input(x)), y)
    loss.backward()
    grad = get_flat_grad(model)
    assert np.count_nonzero(grad) > 0.99 * grad.size  # every layer gets a gradient
    # The project's update, one sign step at the paper's lr, fits the batch better.
    set_flat(model, sign_step(get_flat(model), np.sign(grad), learning_rate=1e-3))
    with torch.no_grad():
        after = torch.nn.functional.cross_entropy(model(as_model_input(x)), y).item()
    assert after < 0.8 * loss.item()
