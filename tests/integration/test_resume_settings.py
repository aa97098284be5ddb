"""A resumed server serves as the interrupted one did: its settings come from the
checkpoint unless given again, and its security must be given again, the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from common.checkpoint import load_checkpoint
from tests.integration.processes import spawn_server, wait_for

RUN = ["--dataset", "digits", "--clients", "2", "--rounds", "20"]
SERVING = ["--checkpoint-every", "10", "--round-deadline", "30", "--quorum", "0.6",
           "--threads", "2", "--host", "127.0.0.1", "--keepalive", "3"]  # fmt: skip


def _secret(path: Path, text: str) -> str:
    path.write_text(text + "\n")
    return str(path)


def _serving(out: Path) -> dict[str, Any]:
    server: dict[str, Any] = load_checkpoint(out / "checkpoint.npz").meta["server"]
    return server


def _interrupt(argv: list[str], tmp_path: Path, name: str, **env: str) -> str:
    """Start a server, SIGTERM it while it waits for clients (it checkpoints), its log."""
    port_file, log = tmp_path / f"{name}.port", tmp_path / f"{name}.log"
    command = [sys.executable, "-m", "signfed.cli", "server", *argv, "--port-file", str(port_file)]
    with open(log, "wb") as output:
        proc = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
    wait_for(lambda: port_file.exists() or proc.poll() is not None, 120, f"{name} to bind")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 1, log.read_text()  # 1: interrupted
    return log.read_text()


def _refused(*argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "signfed.cli", "server", *argv],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_resume_keeps_the_settings_and_demands_the_security(tmp_path: Path) -> None:
    out = tmp_path / "run"
    secret = _secret(tmp_path / "secret", "s" * 32)
    _interrupt([*RUN, *SERVING, "--port", "0", "--out", str(out), "--token-secret-file",
                secret], tmp_path, "first")  # fmt: skip
    first = _serving(out)
    assert first["settings"]["checkpoint_every"] == 10 and first["security"]["token_secret"]
    checkpoint = (out / "checkpoint.npz").read_bytes()

    # Without the secret it would come back open to anybody: refused, nothing changed.
    assert _refused("--resume", str(out), "--port", "0") == (
        f"signfed: error: --resume {out}: the run was served with plain text, tokens from a "
        "shared secret; a resume needs the same security: give --token-secret-file again "
        "(the checkpoint keeps no secrets)"
    )
    other = _secret(tmp_path / "other", "o" * 32)
    line = _refused("--resume", str(out), "--port", "0", "--token-secret-file", other)
    assert line.endswith("--token-secret-file differ from the run's: give the same files")
    assert (out / "checkpoint.npz").read_bytes() == checkpoint

    # With it: what is not given is the checkpoint's; what is given (here the quorum, and
    # the threads through the environment) wins, and the change is logged.
    log = _interrupt(["--resume", str(out), "--port", "0", "--token-secret-file", secret,
                      "--quorum", "0.75"], tmp_path, "resumed", SIGNFED_THREADS="1")  # fmt: skip
    assert "given: quorum 0.75 (the checkpoint's: 0.6)" in log
    assert "given: threads 1 (the checkpoint's: 2)" in log
    assert "(plain text, tokens from a shared secret)" in log
    again = _serving(out)
    assert again["security"] == first["security"]
    assert again["settings"] == {
        **first["settings"], "quorum": 0.75, "threads": 1,
    }  # fmt: skip
    assert again["settings"]["round_deadline_s"] == 30.0
    assert again["settings"]["wire"]["keepalive_s"] == 3.0


def test_a_resumed_server_takes_the_checkpoints_port(tmp_path: Path) -> None:
    out = tmp_path / "run"
    server, port = spawn_server([*RUN, "--port", "0", "--out", str(out)], tmp_path, "probe")
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    # Record a fixed port, as `--port P` would have: a resume without --port binds it.
    _interrupt(["--resume", str(out), "--port", str(port)], tmp_path, "fixed")
    assert _serving(out)["settings"]["port"] == port
    log = _interrupt(["--resume", str(out)], tmp_path, "again")
    assert f"port {port}" in log and f"127.0.0.1:{port}" in log
