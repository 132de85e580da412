"""The CLI in pipes and under -v (issue 15.3, 9.7): a closed stdout ends without a traceback,
and -v never floods stderr with the libraries' debug lines (aiosqlite logs every checkpoint
blob it writes: a 7-hour replay used to write 245 MB)."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main

EXE = Path(sys.executable).parent / "sextant"
BACKTEST = ["backtest", "--from", "2025-04-01", "--to", "2025-04-03", "--symbols", "BTC",
            "--json", "--quiet", "--llm", "off"]


def env(state: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEXTANT_")}
    return base | {"SEXTANT_STATE_DIR": str(state), "PYTHONDONTWRITEBYTECODE": "1"}


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(EXE), *BACKTEST], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env(tmp_path / "state"),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away before the first byte (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert "Exception ignored" not in err, err  # not even at the interpreter's last flush


def test_piped_into_head(tmp_path: Path) -> None:
    cmd = f"set -o pipefail; {EXE} {' '.join(BACKTEST)} | head -1"
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True,
                          env=env(tmp_path / "state"), timeout=120, check=False)
    assert done.stdout == "{\n"
    assert done.returncode in (0, 1)  # 1 when the pipe closed while we wrote, quietly
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def replay_stderr(tmp_path: Path, *flags: str) -> str:
    argv = ["loop", "--replay-from", "2025-04-07T00:00Z", "--replay-to", "2025-04-07T02:00Z",
            "--symbols", "BTC,ETH", "--quiet", *flags]
    done = subprocess.run([str(EXE), *argv], capture_output=True, text=True, timeout=300,
                          env=env(tmp_path / "-".join(flags)), check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_verbose_replay_keeps_libraries_at_info(tmp_path: Path) -> None:
    quiet = replay_stderr(tmp_path, "-v")
    assert len(quiet) < 20_000, quiet[:2000]  # a few lines per cycle
    assert "DEBUG aiosqlite" not in quiet and "DEBUG sqlalchemy" not in quiet
    assert "INFO sextant.loop" in quiet  # -v still shows Sextant's own lines
    # asked for explicitly, after the subcommand: the libraries' debug lines are there
    libs = replay_stderr(tmp_path, "--debug-libs")
    assert "DEBUG aiosqlite" in libs and len(libs) > 100 * len(quiet)


def test_verbose_filter_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "-v"]) == 0
    logging.getLogger("aiosqlite").debug("checkpoint blob %s", "x" * 1000)
    logging.getLogger("httpx").info("HTTP Request: GET /")
    logging.getLogger("sextant.test").debug("our own line")
    err = capsys.readouterr().err
    assert "checkpoint blob" not in err
    assert "HTTP Request" in err and "our own line" in err
    assert main(["-vv", "status"]) == 0
    logging.getLogger("aiosqlite").debug("checkpoint blob")
    assert "checkpoint blob" in capsys.readouterr().err
    assert main(["status"]) == 0
