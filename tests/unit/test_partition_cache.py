"""The partition cache: a second run loads the owners; a bad file is rebuilt, never used."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from common import partitions
from common.config import RunConfig
from common.partition_cache import (
    cache_path,
    cached_owners,
    key_text,
    owners_checksum,
    partition_key,
)
from common.shards import client_shards

LABELS = np.random.default_rng(0).integers(0, 10, size=2000)
RUN = RunConfig(partition="classes", num_clients=40, classes_per_client=2, seed=3,
                partition_sizes="lognormal")  # fmt: skip
LOGGER = "common.partition_cache"


def _path(tmp_path: Path, run: RunConfig = RUN, labels: np.ndarray = LABELS) -> Path:
    return cache_path(tmp_path, partition_key(run, labels, "digits"))


def _fail(*args: object, **kwargs: object) -> np.ndarray:
    raise AssertionError("partitioned again despite a valid cache file")


def test_a_second_call_loads_the_file_and_skips_partitioning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = partitions.run_owners(RUN, LABELS)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        first = cached_owners(RUN, LABELS, tmp_path, "digits")
        assert _path(tmp_path).is_file() and "cached in" in caplog.text
        caplog.clear()
        monkeypatch.setattr(partitions, "client_owners", _fail)
        shards = client_shards(RUN, LABELS, tmp_path, "digits")
    np.testing.assert_array_equal(first, expected)
    assert shards.sizes.tolist() == np.bincount(expected[expected >= 0], minlength=40).tolist()
    hits = [r for r in caplog.records if "skipped partitioning" in r.getMessage()]
    assert len(hits) == 1 and hits[0].levelno == logging.INFO
    assert str(_path(tmp_path)) in hits[0].getMessage()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 3, len(data) // 3 + 16):  # inside the compressed owners
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _other_key(path: Path) -> None:
    other = RunConfig(partition="iid", num_clients=40, seed=3)
    owners = partitions.run_owners(other, LABELS)
    key = np.array(key_text(partition_key(other, LABELS, "digits")))
    with path.open("wb") as f:  # a whole, valid file: of the iid split
        np.savez(f, key=key, owners=owners, owners_sha256=np.array(owners_checksum(owners)))


def _restore(path: Path, **change: object) -> None:
    """Rewrite the file with one member changed and everything else kept."""
    with np.load(path) as stored:
        members = {name: stored[name] for name in stored.files}
    members.update(change)  # type: ignore[arg-type]
    with path.open("wb") as f:
        np.savez(f, **members)


def _bad_checksum(path: Path) -> None:
    _restore(path, owners_sha256=np.array("0" * 64))


def _out_of_range(path: Path) -> None:
    owners = partitions.run_owners(RUN, LABELS)
    owners[0] = 40
    _restore(path, owners=owners, owners_sha256=np.array(owners_checksum(owners)))


def _wrong_shape(path: Path) -> None:
    owners = partitions.run_owners(RUN, LABELS)[:-1]
    _restore(path, owners=owners, owners_sha256=np.array(owners_checksum(owners)))


def _bare_array(path: Path) -> None:
    with path.open("wb") as f:
        np.save(f, partitions.run_owners(RUN, LABELS))


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_truncate, "unreadable"),
        (_flip, "unreadable"),
        (_bare_array, "unreadable"),
        (_other_key, "another partition's key"),
        (_bad_checksum, "SHA-256 does not match"),
        (_out_of_range, "outside [-1, 39]"),
        (_wrong_shape, "not (2000,)"),
    ],
    ids=["truncated", "flipped", "bare-npy", "other-key", "checksum", "range", "shape"],
)
def test_a_damaged_file_is_rebuilt_with_a_warning(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    damage: object,
    reason: str,
) -> None:
    expected = cached_owners(RUN, LABELS, tmp_path, "digits")
    damage(_path(tmp_path))  # type: ignore[operator]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        rebuilt = cached_owners(RUN, LABELS, tmp_path, "digits")
    np.testing.assert_array_equal(rebuilt, expected)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0], warnings
    assert str(_path(tmp_path)) in warnings[0]
    # ...and the rebuilt file is whole again: the next call loads it.
    monkeypatch.setattr(partitions, "client_owners", _fail)
    np.testing.assert_array_equal(cached_owners(RUN, LABELS, tmp_path, "digits"), expected)
    assert [p.name for p in tmp_path.iterdir()] == [_path(tmp_path).name]  # no temp left


def test_an_unwritable_cache_costs_a_warning_not_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        owners = cached_owners(RUN, LABELS, blocked, "digits")
    np.testing.assert_array_equal(owners, partitions.run_owners(RUN, LABELS))
    assert "cannot write partition cache" in caplog.text


def test_the_key_holds_what_the_owners_depend_on_and_nothing_else(tmp_path: Path) -> None:
    iid = RunConfig(partition="iid", num_clients=40)
    names = {
        _path(tmp_path, iid),
        _path(tmp_path, RunConfig(partition="iid", num_clients=41)),
        _path(tmp_path, RunConfig(partition="iid", num_clients=40, seed=1)),
        _path(tmp_path, RunConfig(partition="iid", num_clients=40, partition_sizes="powerlaw")),
        _path(tmp_path, iid, LABELS[::-1].copy()),
        cache_path(tmp_path, partition_key(iid, LABELS, "mnist")),
    }
    assert len(names) == 6
    # --dirichlet-alpha does not change an iid split, nor int32 labels a fingerprint
    same = RunConfig(partition="iid", num_clients=40, dirichlet_alpha=0.1)
    assert _path(tmp_path, same, LABELS.astype(np.int32)) == _path(tmp_path, iid)


def test_copy_and_no_folder_write_nothing(tmp_path: Path) -> None:
    copy = client_shards(RunConfig(partition="copy", num_clients=3), LABELS, tmp_path, "digits")
    assert copy.sizes.tolist() == [2000] * 3
    client_shards(RUN, LABELS, None, "digits")
    assert not list(tmp_path.iterdir())
