"""The committed stubs must be what `make proto` generates from proto/."""

from pathlib import Path

from common.proto_gen import GENERATED, ROOT, generate


def test_generated_stubs_are_current(tmp_path: Path) -> None:
    for path in generate(tmp_path):
        committed = ROOT / "common" / "proto" / path.name
        assert path.name in GENERATED
        assert committed.read_text() == path.read_text(), (
            f"{committed} is stale: run `make proto` and commit the result"
        )
