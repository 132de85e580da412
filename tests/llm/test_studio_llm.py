"""`langgraph dev` (Studio's server, BlockingError on blocking I/O) runs the LLM agents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_studio import free_port, post
from tests.llm.conftest import API_KEY, PROXY_VARS, Script, event

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_langgraph_dev_runs_the_llm_agents(
    fake: FakeOpenAI, script: Script, tmp_path: Path
) -> None:
    script.news = {"BTC": {"events": [event("BTC ETF inflows", 2, 1.5)]}}
    exe = Path(sys.executable).parent / "langgraph"
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SEXTANT_", "OPENROUTER")) and k not in PROXY_VARS
    }
    env |= {
        "SEXTANT_STATE_DIR": str(tmp_path / "state"),
        "OPENROUTER_API_KEY": API_KEY,
        "SEXTANT_LLM__BASE_URL": fake.base_url,
        "LANGGRAPH_NO_BROWSER": "1",
    }
    # Our own config: the repo's langgraph.json pins a shared state directory for Studio.
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps(
            {
                "python_version": "3.12",
                "dependencies": [str(ROOT)],
                "graphs": {"sextant": f"{ROOT}/graph/graph.py:graph"},
                "env": {"SEXTANT_STATE_DIR": str(tmp_path / "state")},
            }
        )
    )
    proc = subprocess.Popen(
        [
            str(exe),
            "dev",
            "--no-browser",
            "--no-reload",
            "--port",
            str(port),
            "--config",
            str(config),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # server start-up, not a test of timing
        while True:
            try:
                post(f"{base}/assistants/search", {}, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read() if proc.stdout else ""
                    pytest.fail(f"langgraph dev did not start:\n{out[-3000:]}")
                time.sleep(0.5)
        result = post(
            f"{base}/runs/wait",
            {
                "assistant_id": "sextant",
                "input": {"symbols": ["BTC/USDT:USDT"], "as_of": "2026-05-16T11:00:00Z"},
            },
            timeout=120,
        )
        assert isinstance(result, dict), result
        assert "BlockingError" not in str(result), str(result)[:2000]
        assert result["errors"] == []
        news = result["news"]["BTC/USDT:USDT"]
        assert news["available"] and news["score"] > 0 and news["source"] == "llm"
        assert result["llm_usage"]["calls"] == 2  # hunter + BTC news
        assert script.calls == {"hunter": 1, "BTC": 1}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
