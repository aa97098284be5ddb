"""common/robust's rules against plain float64 references; ties, equal rows, groups,
Krum's f, determinism, and the robustness each rule is for."""

from __future__ import annotations

import numpy as np
import pytest

from common.robust import RuleContext, available, get_rule
from tests.unit import robust_reference as ref

ROBUST = ["median", "trimmed-mean", "median-of-means", "geometric-median", "krum"]
SIZES = [1, 2, 3, 4, 7, 15, 16]
N = 6
TOL = {"rtol": 1e-12, "atol": 1e-13}  # atol: coordinates whose mean lands near zero


def random_rows(seed: int, m: int, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    """(M, N) float32 rows, (M,) float64 weights in [1, 100)."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((m, n)).astype(np.float32)
    return rows, rng.uniform(1.0, 100.0, size=m)


def tied_rows(seed: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows from a 5-value grid (many equal values per coordinate), row 1 == row 0."""
    rng = np.random.default_rng(seed)
    rows = (rng.integers(-2, 3, size=(m, N)) / 4).astype(np.float32)
    if m > 1:
        rows[1] = rows[0]
    return rows, rng.uniform(1.0, 100.0, size=m)


def apply(name: str, rows: np.ndarray, weights: np.ndarray, seed: int = 0, **settings):
    context = RuleContext(rng=np.random.default_rng(seed), **settings)
    return get_rule(name)(rows, weights, context)


def test_available_lists_every_rule_mean_first():
    assert available() == (
        "mean",
        "geometric-median",
        "krum",
        "median",
        "median-of-means",
        "trimmed-mean",
    )


# ---- against the references ----------------------------------------------------------


@pytest.mark.parametrize("make", [random_rows, tied_rows])
@pytest.mark.parametrize("m", SIZES)
def test_median_equals_reference_exactly(make, m):
    rows, w = make(m, m)
    np.testing.assert_array_equal(apply("median", rows, w), ref.median(rows))


@pytest.mark.parametrize("make", [random_rows, tied_rows])
@pytest.mark.parametrize("m", SIZES)
@pytest.mark.parametrize("beta", [0.0, 0.1, 0.2, 0.34, 0.49])
def test_trimmed_mean_equals_reference(make, m, beta):
    rows, w = make(10 + m, m)
    got = apply("trimmed-mean", rows, w, trim_beta=beta)
    np.testing.assert_allclose(got, ref.trimmed_mean(rows, beta), **TOL)


@pytest.mark.parametrize("make", [random_rows, tied_rows])
@pytest.mark.parametrize("m", SIZES)
def test_geometric_median_equals_reference(make, m):
    rows, w = make(20 + m, m)
    got = apply("geometric-median", rows, w)
    np.testing.assert_allclose(got, ref.geometric_median(rows, w, 100), **TOL)


@pytest.mark.parametrize("make", [random_rows, tied_rows])
@pytest.mark.parametrize(
    ("m", "groups"), [(1, 5), (2, 5), (4, 2), (7, 3), (15, 4), (15, 5), (16, 5), (7, 20)]
)
def test_median_of_means_equals_reference(make, m, groups):
    rows, w = make(30 + m, m)
    got = apply("median-of-means", rows, w, seed=m + groups, groups=groups)
    want = ref.median_of_means(rows, w, groups, seed=m + groups, max_iters=100)
    np.testing.assert_allclose(got, want, **TOL)


@pytest.mark.parametrize("make", [random_rows, tied_rows])
@pytest.mark.parametrize("m", SIZES)
@pytest.mark.parametrize("byzantine", [-1, 0, 1, 3, 7])
@pytest.mark.parametrize("multi", [1, 2, 5, 20])
def test_krum_equals_reference(make, m, byzantine, multi):
    rows, w = make(40 + m, m)
    got = apply("krum", rows, w, byzantine=byzantine, multi_krum=multi)
    np.testing.assert_allclose(got, ref.krum(rows, byzantine, multi), **TOL)


def test_the_references_saw_ties():
    rows, _ = tied_rows(15, 15)
    assert (rows[0] == rows[1]).all()
    assert all(len(set(rows[:, n].tolist())) < 15 for n in range(N))


# ---- every rule ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ROBUST)
@pytest.mark.parametrize("m", SIZES)
def test_equal_rows_give_that_row_exactly(name, m):
    row = np.array([0.1, -1 / 3, 7.7, 0.0, 1e-30, -3e5], dtype=np.float32)
    rows = np.tile(row, (m, 1))
    weights = np.random.default_rng(m).uniform(1.0, 100.0, size=m)
    got = apply(name, rows, weights, multi_krum=3)
    np.testing.assert_array_equal(got, row.astype(np.float64))


@pytest.mark.parametrize("name", ROBUST)
def test_returns_float64_without_touching_inputs(name):
    rows, w = random_rows(5, 15)
    rows_copy, w_copy = rows.copy(), w.copy()
    rows.setflags(write=False)
    w.setflags(write=False)
    got = apply(name, rows, w)
    assert got.shape == (N,) and got.dtype == np.float64
    np.testing.assert_array_equal(rows, rows_copy)
    np.testing.assert_array_equal(w, w_copy)


@pytest.mark.parametrize("name", ROBUST)
def test_same_inputs_and_seed_give_the_same_bits(name):
    rows, w = random_rows(6, 16)
    first = apply(name, rows, w, seed=9, multi_krum=4)
    again = apply(name, rows.copy(), w.copy(), seed=9, multi_krum=4)
    assert first.tobytes() == again.tobytes()


# ---- median of means ---------------------------------------------------------------------


def test_median_of_means_needs_the_round_generator():
    rows, w = random_rows(7, 5)
    with pytest.raises(ValueError, match="seeded generator"):
        get_rule("median-of-means")(rows, w, RuleContext(rng=None))


def test_median_of_means_groups_differ_with_the_seed():
    rows, w = random_rows(8, 15)
    results = {apply("median-of-means", rows, w, seed=s).tobytes() for s in range(6)}
    assert len(results) > 1


def test_median_of_means_with_a_row_per_group_is_the_geometric_median():
    rows, w = random_rows(9, 7)
    got = apply("median-of-means", rows, w, groups=20)
    np.testing.assert_allclose(got, apply("geometric-median", rows, w), rtol=1e-9)


def test_median_of_means_with_one_group_is_the_weighted_mean():
    rows, w = random_rows(10, 7)
    got = apply("median-of-means", rows, w, groups=1)
    np.testing.assert_allclose(got, apply("mean", rows, w), rtol=1e-12, atol=1e-15)


# ---- trimmed mean ------------------------------------------------------------------------


def test_trimmed_mean_with_beta_zero_is_the_unweighted_mean():
    rows, _ = random_rows(11, 15)
    got = apply("trimmed-mean", rows, np.full(15, 3.0), trim_beta=0.0)
    np.testing.assert_allclose(got, apply("mean", rows, np.ones(15)), **TOL)


def test_trimmed_mean_drops_three_of_fifteen_at_each_end():
    rows, w = random_rows(12, 15)
    base = apply("trimmed-mean", rows, w, trim_beta=0.2)  # k = floor(0.2 * 15) = 3
    ranks = np.argsort(rows, axis=0)
    moved = rows.copy()
    np.put_along_axis(moved, ranks[-3:], 1e30, axis=0)  # the 3 largest go far up
    np.put_along_axis(moved, ranks[:3], -1e30, axis=0)  # the 3 smallest far down
    assert apply("trimmed-mean", moved, w, trim_beta=0.2).tobytes() == base.tobytes()
    np.testing.assert_allclose(base, np.sort(rows, axis=0)[3:12].mean(axis=0, dtype=float))


def test_trimmed_mean_rejects_a_beta_that_drops_every_row():
    rows, w = random_rows(13, 4)
    with pytest.raises(ValueError, match="--trim-beta"):
        apply("trimmed-mean", rows, w, trim_beta=0.5)


# ---- Krum --------------------------------------------------------------------------------


def krum_of(rows, **settings):
    return apply("krum", rows, np.ones(len(rows)), **settings)


def test_krum_default_f_is_the_most_it_tolerates():
    rows, _ = random_rows(14, 15)
    assert krum_of(rows, byzantine=-1).tobytes() == krum_of(rows, byzantine=6).tobytes()


def test_krum_clamps_an_f_the_round_cannot_honour():
    rows, _ = random_rows(15, 7)  # 7 < 2 * 5 + 3: f = 5 becomes (7 - 3) // 2 = 2
    assert krum_of(rows, byzantine=5).tobytes() == krum_of(rows, byzantine=2).tobytes()


def test_krum_f_changes_the_choice():
    """f = 0 scores over five neighbours: 6 (nearest the far pair too) wins; f = 2 over
    three: 5 (its three nearest are 6, 7 and 0.1) wins."""
    rows = np.array([[0.0], [0.1], [5.0], [6.0], [7.0], [20.0], [20.1]], dtype=np.float32)
    assert krum_of(rows, byzantine=0)[0] == 6.0
    assert krum_of(rows, byzantine=2)[0] == 5.0


def test_krum_picks_a_row_and_breaks_ties_by_index():
    rows, _ = random_rows(16, 2)
    np.testing.assert_array_equal(krum_of(rows), rows[0].astype(np.float64))
    one = krum_of(rows[1:])
    np.testing.assert_array_equal(one, rows[1].astype(np.float64))
    rows, _ = random_rows(17, 15)
    got = krum_of(rows)
    assert any((got == row.astype(np.float64)).all() for row in rows)


def test_multi_krum_of_every_row_is_the_unweighted_mean():
    rows, _ = random_rows(18, 15)
    got = krum_of(rows, multi_krum=15)
    np.testing.assert_allclose(got, apply("mean", rows, np.ones(15)), **TOL)


def test_multi_krum_averages_the_best_rows():
    rows = np.array([[0.0], [1.0], [2.0], [3.0], [100.0]], dtype=np.float32)
    # f = 1, two neighbours: scores 5, 2, 2, 5, ~1e4; rows 1 and 2, then row 0 (ties
    # row 3 at 5, wins by index)
    assert krum_of(rows, multi_krum=3)[0] == 1.0
    assert krum_of(rows, multi_krum=4)[0] == 1.5


# ---- robustness --------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["negate-4x", "scale-1e6"])
@pytest.mark.parametrize("name", ["median", "trimmed-mean", "krum", "geometric-median"])
def test_three_outliers_of_fifteen_do_not_move_the_rule(name, attack):
    rng = np.random.default_rng(19)
    center = rng.standard_normal(50)
    rows = (center + 0.1 * rng.standard_normal((15, 50))).astype(np.float32)
    honest = rows.mean(axis=0, dtype=np.float64)
    scale = -4.0 if attack == "negate-4x" else 1e6
    rows[[2, 7, 11]] *= np.float32(scale)
    w = np.ones(15)
    size = np.linalg.norm(honest)
    assert np.linalg.norm(apply("mean", rows, w) - honest) > 0.9 * size
    assert np.linalg.norm(apply(name, rows, w) - honest) < 0.15 * size
