"""Robust parsing of model answers: bare JSON, fenced JSON, JSON inside prose, tool calls.

Models (Perplexity Sonar in particular) wrap JSON in code fences or prose, prepend reasoning in
<think> tags, or answer through a tool call. This finds the JSON wherever it is; validation
against the answer schema is the caller's job.

Whatever the text, the outcome is a value or `AnswerParseError`: an answer longer than the
caller's limit is refused before any parsing, and any failure of the decoder (a RecursionError
from "[[[[...", say) counts as "no JSON here".
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\r?\n?(.*?)```", re.DOTALL)


class AnswerParseError(ValueError):
    """No JSON value could be found in a model answer."""


def message_text(message: BaseMessage) -> str:
    """The text of a message: a string, or the text blocks of a content list joined."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _loads(text: str) -> Any:
    return json.loads(text)


def _too_deep() -> AnswerParseError:
    return AnswerParseError("no JSON object found in the answer (nested too deeply)")


def _scan(text: str) -> Any:
    """The first JSON object in free text (else the first array) that decodes completely."""
    decoder = json.JSONDecoder()
    first_list: Any = None
    for i, ch in enumerate(text):
        if ch not in "{[":
            continue
        try:
            value, _ = decoder.raw_decode(text, i)
        except RecursionError:
            raise _too_deep() from None  # every later start is inside the same nesting
        except Exception:
            continue
        if isinstance(value, dict):
            return value
        if first_list is None and isinstance(value, list) and value:
            first_list = value
    if first_list is not None:
        return first_list
    raise AnswerParseError("no JSON object found in the answer")


def check_length(text: str, max_chars: int | None) -> None:
    if max_chars is not None and len(text) > max_chars:
        raise AnswerParseError(f"answer too long ({len(text)} characters, at most {max_chars})")


def extract_json(text: str, max_chars: int | None = None) -> Any:
    """The JSON value in a model's text answer (dict or list); AnswerParseError if none (or if
    the text is longer than `max_chars`). Never raises anything else."""
    check_length(text, max_chars)
    try:
        cleaned = _THINK.sub("", text).strip()
    except Exception as exc:
        raise AnswerParseError(f"unreadable answer ({type(exc).__name__})") from None
    if not cleaned:
        raise AnswerParseError("empty answer")
    try:
        return _loads(cleaned)
    except RecursionError:
        raise _too_deep() from None
    except Exception:
        pass
    for _lang, body in _FENCE.findall(cleaned):
        try:
            return _loads(body.strip())
        except RecursionError:
            raise _too_deep() from None
        except Exception:
            continue
    return _scan(cleaned)


def message_payload(message: AIMessage, max_chars: int | None = None) -> tuple[str, Any]:
    """(raw text, JSON payload) of an answer: the first tool call's arguments, else the text.

    AnswerParseError when there is no JSON, or when the answer is longer than `max_chars`
    (checked before any parsing); never anything else."""
    try:
        text = message_text(message)
        if message.tool_calls:
            args = message.tool_calls[0]["args"]
            raw = json.dumps(args, ensure_ascii=False)
            raw = f"{text}\n{raw}" if text else raw
            check_length(raw, max_chars)
            return raw, args
        if message.invalid_tool_calls:
            args_text = str(message.invalid_tool_calls[0].get("args") or "")
            raw = f"{text}\n{args_text}" if text else args_text
            check_length(raw, max_chars)
            return raw, extract_json(args_text)
    except AnswerParseError:
        raise
    except Exception as exc:  # e.g. tool arguments nested too deeply to serialise
        raise AnswerParseError(f"unreadable tool call ({type(exc).__name__})") from None
    return text, extract_json(text, max_chars)
