"""The LLM port: ask a model one question and get a checked answer back, never an exception.

Contract (the adapter is `tools.llm.service.LLMService`, OpenRouter through langchain-openai):
- `ask(request)` renders the request's prompt, calls the model (within the settings' timeout,
  retries and the daily budget), parses the answer wherever the JSON is, validates it against
  the request's schema and the request's own check, asks for one repair when it is unusable,
  tapes every call (inputs, raw text, parsed answer, tokens, cost) and returns an answer whose
  `status` says what happened ("ok", "repaired", "invalid", "error", "budget",
  "prompt_invalid"), with reasons. It never raises for a model's or a network's failure: the
  agent then runs its offline fallback.
- `cache_get(key)` / `cache_set(key, value)`: the agents' disposable answer cache (JSON data).
- `aclose()` releases the HTTP client; called once by whoever built the adapter.

The request and answer types belong to the adapter (they carry its prompt and schema types);
the port is generic over them so the graph's services name the concrete pair.
"""

from typing import Any, Protocol, TypeVar

Req = TypeVar("Req", contravariant=True)
Ans = TypeVar("Ans", covariant=True)


class LLMPort(Protocol[Req, Ans]):
    async def ask(self, request: Req, /) -> Ans: ...

    async def cache_get(self, key: str, /) -> dict[str, Any] | None: ...

    async def cache_set(self, key: str, value: dict[str, Any], /) -> None: ...

    async def aclose(self) -> None: ...
