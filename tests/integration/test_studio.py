"""`langgraph dev` (Studio's local server) loads langgraph.json and runs a cycle offline."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict, timeout: float) -> object:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_langgraph_dev_serves_the_graph_offline(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "langgraph"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "OPENROUTER"))}
    env |= {"SEXTANT_STATE_DIR": str(tmp_path / "state"), "LANGGRAPH_NO_BROWSER": "1"}
    proc = subprocess.Popen(
        [str(exe), "dev", "--no-browser", "--no-reload", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # server start-up, not a test of timing
        while True:
            try:
                assistants = post(f"{base}/assistants/search", {}, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    pytest.fail(f"langgraph dev did not start:\n{out[-3000:]}")
                time.sleep(0.5)
        assert [a["graph_id"] for a in assistants] == ["sextant"]  # type: ignore[index]
        result = post(
            f"{base}/runs/wait",
            {"assistant_id": "sextant", "input": {"symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"]}},
            timeout=120,
        )
        assert isinstance(result, dict), result
        decisions = {s["symbol"]: s["decision"] for s in result["signals"]}
        assert set(decisions) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
        assert result["errors"] == []
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
