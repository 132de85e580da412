"""The one place a chat model is created: langchain-openai's ChatOpenAI against OpenRouter."""

from __future__ import annotations

import httpx
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from sextant.config.llm import LLMSettings


def make_chat_model(
    settings: LLMSettings,
    model: str,
    api_key: SecretStr,
    http_async_client: httpx.AsyncClient | None = None,
) -> ChatOpenAI:
    """A ChatOpenAI for `model`: base URL, timeout, retries and attribution from settings.

    Streaming is disabled so that a node's answer is always parsed whole (LangGraph would
    otherwise stream when a "messages" stream is attached, e.g. in Studio). OpenRouter is asked
    to report each call's cost (`usage.include`); the price table covers servers that do not.
    Pass `http_async_client` to bind the connections to one event loop: by default
    langchain-openai shares one cached client process-wide, whose pooled connections break
    ("Event loop is closed") once the loop that opened them is gone.
    """
    return ChatOpenAI(
        model=model,
        base_url=settings.base_url,
        api_key=api_key,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
        temperature=settings.temperature,
        default_headers=settings.attribution_headers() or None,
        disable_streaming=True,
        stream_usage=True,
        extra_body={"usage": {"include": True}},
        http_async_client=http_async_client,
    )
