"""The LLM service of a run: ask a model, parse and validate, repair once, count, tape, budget.

Async all the way: the HTTP call is `ainvoke`, and every blocking step (SQLite tape, diskcache,
creating the HTTP client, which loads certificates) runs in a worker thread, so the event loop
of `langgraph dev` never blocks. Failures never raise: `ask` returns an `Answer` whose status
and reasons say what happened, and the agent falls back.

A request may carry its stage's deadline (`tools.llm.deadline`): waiting for a slot and the call
itself (the client's retries included) are bounded by the time remaining. Past it the call in
flight is cancelled (its connection closed, no retry follows), taped as an `error` without cost,
and the answer is `deadline` with `llm_deadline_exceeded`; whatever the request already spent (a
first answer that needed repair) stays counted, as on the tape.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr, ValidationError

from sextant.clock import Clock
from sextant.config import Settings
from sextant.models import Reason
from sextant.news import clean_text
from sextant.reasons import Code
from tools.llm.cache import AnswerCache
from tools.llm.client import make_chat_model
from tools.llm.deadline import Deadline
from tools.llm.parsing import AnswerParseError, message_payload
from tools.llm.prompts import REPAIR, Prompt, PromptError, load_prompt
from tools.llm.schemas import answer_schema, answer_tool
from tools.llm.tape import Tape, TapeRecord, storable
from tools.llm.usage import Usage, call_cost

log = logging.getLogger("sextant.llm")

Status = Literal["ok", "repaired", "invalid", "error", "budget", "prompt_invalid", "deadline"]
Origin = Literal["cycle", "prompt_run", "prompt_replay"]
Cut = Literal["unsent", "cancelled"] | None  # what a deadline stopped: not sent, or in flight


@dataclass
class AskRequest:
    agent: str  # "hunter" | "news"
    model: str
    prompt: Prompt
    variables: dict[str, Any]
    schema: type[BaseModel]
    as_of: datetime
    symbol: str | None = None
    origin: Origin = "cycle"
    cycle_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)  # taped with the inputs
    # What the agent will do with a schema-valid answer (e.g. turn it into scored events); if
    # it raises, the answer is unusable like one that fails the schema: one repair, then the
    # fallback, and nothing unusable is ever marked ok on the tape or cached.
    check: Callable[[BaseModel], object] | None = None
    # The stage's deadline (shared by the branches of a fan-out); None: only timeout_s bounds it.
    deadline: Deadline | None = None


@dataclass
class Answer:
    status: Status
    model: str
    prompt_hash: str
    payload: BaseModel | None = None
    parsed: Any = None  # the validated answer as JSON data (what the cache and tape keep)
    raw_text: str | None = None
    error: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    tape_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.payload is not None


def describe_error(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    """A short, secret-free description of a failed call."""
    status = getattr(exc, "status_code", None)
    msg = str(exc)
    for s in secrets:
        if s:
            msg = msg.replace(s, "***")
    msg = clean_text(msg, 300)
    head = type(exc).__name__ + (f" (HTTP {status})" if status else "")
    return f"{head}: {msg}" if msg else head


def validation_summary(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "answer"
        parts.append(f"{loc}: {err.get('msg')}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


class _LoopState:
    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.http: httpx.AsyncClient | None = None
        self.models: dict[str, ChatOpenAI] = {}


class LLMService:
    """One per Services object (per settings): models, tape, cache, budget and concurrency."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        if settings.openrouter_api_key is None:
            raise ValueError("LLMService needs OPENROUTER_API_KEY")
        self.settings = settings
        self.cfg = settings.llm
        self.clock = clock
        self._api_key: SecretStr = settings.openrouter_api_key
        self.tape = Tape(settings.state_dir, timedelta(hours=self.cfg.tape_live_tolerance_h))
        self.cache = AnswerCache(settings.state_dir)
        # Per event loop (weakly keyed: a finished loop takes its clients with it): an async
        # HTTP client and its connections belong to the loop that opened them.
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._known_prompts: set[str] = set()
        self._repair: Prompt | None = None  # prompts/repair.md, read once (off the loop)

    # -- plumbing -----------------------------------------------------------------------------

    def _loop_state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        with self._lock:
            state = self._loops.get(loop)
            if state is None:
                state = self._loops[loop] = _LoopState(self.cfg.max_concurrency)
            return state

    def chat_model(self, model: str, loop: asyncio.AbstractEventLoop) -> ChatOpenAI:
        """The client for `model` on `loop` (blocking the first time: call from a thread)."""
        state = self._loop_state(loop)
        with self._lock:
            if model not in state.models:
                if state.http is None:
                    # Creating it loads the CA bundle from disk: keep off the event loop.
                    state.http = httpx.AsyncClient(timeout=self.cfg.timeout_s)
                state.models[model] = make_chat_model(
                    self.cfg, model, self._api_key, http_async_client=state.http
                )
            return state.models[model]

    async def cache_get(self, key: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.cache.get, key)

    async def cache_set(self, key: str, value: dict[str, Any]) -> None:
        await asyncio.to_thread(self.cache.set, key, value)

    async def repair_prompt(self) -> Prompt:
        """prompts/repair.md: read from disk once (in a worker thread), then reused."""
        if self._repair is None:
            self._repair = await asyncio.to_thread(load_prompt, REPAIR)
        return self._repair

    async def spent_today(self) -> float:
        day = self.clock.now().date()
        return await asyncio.to_thread(self.tape.spent_on, day)

    async def aclose(self) -> None:
        """Close this loop's HTTP client, the cache and the database connections."""
        with self._lock:
            state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None and state.http is not None:
            await state.http.aclose()
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self.cache.close()
        self.tape.close()

    # -- the call -----------------------------------------------------------------------------

    async def _budget_reason(self) -> Reason | None:
        budget = self.cfg.daily_budget_usd
        spent = await self.spent_today()
        if spent < budget:
            return None
        return Reason(
            code=Code.LLM_BUDGET_EXHAUSTED,
            message=f"daily LLM budget {budget:.2f} USD spent ({spent:.4f} USD today, UTC): "
            "offline fallback",
            data={"budget_usd": budget, "spent_usd": round(spent, 6)},
        )

    async def _invoke(
        self,
        model: str,
        messages: list[BaseMessage],
        schema: type[BaseModel],
        deadline: Deadline | None = None,
    ) -> tuple[AIMessage | None, str | None, float, Cut]:
        """(answer, error, latency ms, what the deadline cut); never raises."""
        loop = asyncio.get_running_loop()
        llm = await asyncio.to_thread(self.chat_model, model, loop)
        runnable: Any = llm
        if self.cfg.tool_calling:
            tool = answer_tool(schema)
            runnable = llm.bind_tools([tool], tool_choice=tool["function"]["name"])
        left = None if deadline is None else deadline.remaining()
        if left is not None and left <= 0:
            return None, None, 0.0, "unsent"
        start = time.perf_counter()
        try:
            # Cancels the request in flight (and the client's retries) when the time is up.
            async with asyncio.timeout(left):
                try:
                    msg = await runnable.ainvoke(messages)
                except Exception as exc:  # any failure of the call is one symbol's fallback
                    err = describe_error(exc, [self._api_key.get_secret_value()])
                    return None, err, (time.perf_counter() - start) * 1000, None
        except TimeoutError:
            return None, None, (time.perf_counter() - start) * 1000, "cancelled"
        latency = (time.perf_counter() - start) * 1000
        if not isinstance(msg, AIMessage):
            return None, f"unexpected answer type {type(msg).__name__}", latency, None
        return msg, None, latency, None

    @staticmethod
    async def _slot(slot: asyncio.Semaphore, deadline: Deadline | None) -> bool:
        """Wait for a request slot, within the deadline; False when the time ran out first."""
        if deadline is None:
            await slot.acquire()
            return True
        left = deadline.remaining()
        if left <= 0:
            return False
        try:
            async with asyncio.timeout(left):
                await slot.acquire()
        except TimeoutError:
            return False
        return True

    def _past_deadline(
        self, req: AskRequest, answer: Answer, attempt: int, cancelled: bool
    ) -> None:
        assert req.deadline is not None
        d = req.deadline
        what = "request cancelled in flight" if cancelled else "no request sent"
        if attempt == 2:
            what += " (repair request)"
        answer.status = "deadline"
        answer.error = f"no usable answer within the {d.seconds:g} s {d.stage} deadline: {what}"
        answer.reasons.append(
            Reason(
                code=Code.LLM_DEADLINE_EXCEEDED,
                message=f"{req.agent}: {answer.error}",
                data={
                    "model": req.model,
                    "stage": d.stage,
                    "deadline_s": d.seconds,
                    "in_flight": cancelled,
                    "attempt": attempt,
                },
            )
        )
        log.warning("%s %s: %s", req.agent, req.symbol or "", answer.error)

    def _check(
        self,
        msg: AIMessage,
        schema: type[BaseModel],
        check: Callable[[BaseModel], object] | None = None,
    ) -> tuple[str, BaseModel | None, Any, str | None]:
        """(raw text, validated payload or None, its JSON data, error). Never raises: whatever
        goes wrong with an answer makes it unusable (repair, then the fallback)."""
        limit = self.cfg.max_answer_chars
        try:
            # The length first: nothing longer than max_answer_chars is parsed at all.
            raw, data = message_payload(msg, limit)
        except Exception as exc:  # AnswerParseError, or anything the parser did not foresee
            return _text_of(msg)[:limit], None, None, _problem(exc)
        try:
            payload = schema.model_validate(data)
        except ValidationError as exc:
            why = clean_text(validation_summary(exc), 1000)
            return raw, None, None, f"does not match the answer schema: {why}"
        except Exception as exc:
            return raw, None, None, f"does not match the answer schema: {_problem(exc)}"
        try:
            parsed = payload.model_dump(mode="json")  # what the tape and the cache keep
            if check is not None:
                check(payload)
        except Exception as exc:
            return raw, None, None, f"unusable answer: {_problem(exc)}"
        return raw, payload, parsed, None

    async def _tape(self, req: AskRequest, **fields: Any) -> int:
        now = self.clock.now()
        record = TapeRecord(
            created_at=now,
            as_of=req.as_of,
            origin=req.origin,
            agent=req.agent,
            model=req.model,
            prompt_name=req.prompt.name,
            prompt_hash=req.prompt.hash,
            inputs={**req.variables, **req.context},
            symbol=req.symbol,
            cycle_id=req.cycle_id,
            **fields,
        )
        remember = req.prompt.hash not in self._known_prompts
        self._known_prompts.add(req.prompt.hash)

        def write() -> int:
            if remember:
                self.tape.remember_prompt(req.prompt.name, req.prompt.hash, req.prompt.text, now)
            return self.tape.record(record)

        try:
            return await asyncio.to_thread(write)
        except Exception as exc:  # the tape must not cost the cycle; say it loudly
            log.error("LLM tape write failed: %s", describe_error(exc))
            return 0

    async def ask(self, req: AskRequest) -> Answer:
        """Ask once, repair once if the answer is unusable, else give up with a reason."""
        answer = Answer(status="invalid", model=req.model, prompt_hash=req.prompt.hash)
        try:
            rendered = req.prompt.render(req.variables)
            repair = await self.repair_prompt()
        except PromptError as exc:
            answer.status = "prompt_invalid"
            answer.error = str(exc)
            answer.reasons.append(Reason(code=Code.PROMPT_INVALID, message=str(exc)))
            return answer
        messages: list[BaseMessage] = [
            SystemMessage(text) if role == "system" else HumanMessage(text)
            for role, text in rendered
        ]
        slot = self._loop_state(asyncio.get_running_loop()).semaphore
        for attempt in (1, 2):
            # One slot per attempt (at most max_concurrency in flight) held from the budget
            # check to the tape write, so parallel branches see each other's spend and
            # overshoot the budget by at most the calls in flight.
            if not await self._slot(slot, req.deadline):
                self._past_deadline(req, answer, attempt, cancelled=False)
                return answer
            try:
                outcome = await self._attempt(req, messages, attempt, answer)
            finally:
                slot.release()
            if outcome is None:
                return answer
            raw, problem = outcome
            answer.error = problem
            schema_text = json.dumps(answer_schema(req.schema))
            messages = [
                *messages,
                AIMessage(storable(raw[:4000]) or ""),  # sendable: no lone surrogate
                HumanMessage(repair.render({"error": problem, "schema": schema_text})[-1][1]),
            ]
        answer.status = "invalid"
        answer.reasons.append(
            Reason(
                code=Code.LLM_INVALID_ANSWER,
                message=f"{req.agent}: unusable answer after one repair attempt ({answer.error})",
                data={"model": req.model},
            )
        )
        return answer

    async def _attempt(
        self, req: AskRequest, messages: list[BaseMessage], attempt: int, answer: Answer
    ) -> tuple[str, str] | None:
        """One call, filling `answer`. None when done (usable, failed or over budget); else the
        unusable raw text and what is wrong with it, for the repair request."""
        over = await self._budget_reason()
        if over is not None:
            answer.status = "budget" if attempt == 1 else "invalid"
            answer.reasons.append(over)
            return None
        msg, err, latency, cut = await self._invoke(req.model, messages, req.schema, req.deadline)
        if cut is not None:
            self._past_deadline(req, answer, attempt, cancelled=cut == "cancelled")
            if cut == "cancelled":  # sent: on the tape, cost unknown (none reported)
                answer.tape_ids.append(
                    await self._tape(
                        req, attempt=attempt, status="error", error=answer.error,
                        latency_ms=latency,
                    )
                )
            return None
        if msg is None:
            answer.status, answer.error = "error", err
            answer.reasons.append(
                Reason(
                    code=Code.LLM_CALL_FAILED,
                    message=f"{req.agent} call to {req.model} failed: {err}",
                    data={"model": req.model},
                )
            )
            answer.tape_ids.append(
                await self._tape(
                    req, attempt=attempt, status="error", error=err, latency_ms=latency
                )
            )
            log.warning("%s %s: call failed: %s", req.agent, req.symbol or "", err)
            return None
        cost = call_cost(msg, req.model, self.cfg)
        answer.usage.calls += 1
        answer.usage.tokens_in += cost.tokens_in
        answer.usage.tokens_out += cost.tokens_out
        answer.usage.cost_usd += cost.cost_usd
        raw, payload, parsed, problem = self._check(msg, req.schema, req.check)
        answer.raw_text = raw
        status: Status = "ok" if attempt == 1 else "repaired"
        answer.tape_ids.append(
            await self._tape(
                req,
                attempt=attempt,
                status=status if payload is not None else "invalid",
                raw_text=raw,
                parsed=parsed,
                error=problem,
                tokens_in=cost.tokens_in,
                tokens_out=cost.tokens_out,
                cost_usd=cost.cost_usd,
                cost_source=cost.source,
                latency_ms=latency,
            )
        )
        log.info(
            "%s %s: %s attempt %d, %s, %d+%d tokens, %.6f USD (%s)",
            req.agent,
            req.symbol or "",
            req.model,
            attempt,
            problem or "ok",
            cost.tokens_in,
            cost.tokens_out,
            cost.cost_usd,
            cost.source,
        )
        if payload is None:
            return raw, problem or "unusable answer"
        answer.status, answer.payload, answer.parsed = status, payload, parsed
        answer.error = None
        if attempt == 2:
            answer.reasons.append(
                Reason(
                    code=Code.LLM_ANSWER_REPAIRED,
                    message=f"{req.agent}: first answer unusable, repaired on retry",
                )
            )
        return None


def _text_of(msg: AIMessage) -> str:
    content = msg.content
    if isinstance(content, str):
        return content
    try:
        return json.dumps(content, default=str)
    except Exception:
        return repr(content)


def _problem(exc: BaseException) -> str:
    """What is wrong with an answer, in one clean line (it may quote model text)."""
    if isinstance(exc, AnswerParseError):
        return clean_text(str(exc), 300)
    return clean_text(f"{type(exc).__name__}: {exc}", 300)
