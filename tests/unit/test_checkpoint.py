"""Checkpoint files: a faithful round trip, atomic replacement, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.checkpoint import Checkpoint, load_checkpoint, save_checkpoint


def _checkpoint(round_index: int = 7) -> Checkpoint:
    return Checkpoint(
        flat=np.arange(10, dtype=np.float32) / 3,
        round=round_index,
        arrays={"counts": np.arange(6, dtype=np.int32).reshape(2, 3)},
        meta={"config": {"seed": 3, "batch_sizes": [4, 904]}, "seconds": 1.5},
    )


def test_round_trip_keeps_every_bit(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _checkpoint())
    loaded = load_checkpoint(path)
    assert loaded.round == 7
    assert loaded.flat.dtype == np.float32
    assert loaded.flat.tobytes() == _checkpoint().flat.tobytes()
    assert loaded.arrays.keys() == {"counts"}
    np.testing.assert_array_equal(loaded.arrays["counts"], _checkpoint().arrays["counts"])
    assert loaded.arrays["counts"].dtype == np.int32
    assert loaded.meta == {"config": {"seed": 3, "batch_sizes": [4, 904]}, "seconds": 1.5}


def test_a_new_checkpoint_replaces_the_old_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _checkpoint(5))
    save_checkpoint(path, _checkpoint(9))
    assert load_checkpoint(path).round == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


def test_reserved_array_names_are_refused(tmp_path: Path) -> None:
    bad = Checkpoint(np.zeros(2, np.float32), 0, {"flat": np.zeros(1)}, {})
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "c.npz", bad)


def test_garbage_and_foreign_files_are_refused_by_name(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="garbage.npz is not a readable checkpoint"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(ValueError, match="foreign.npz is not a signfed checkpoint"):
        load_checkpoint(foreign)
