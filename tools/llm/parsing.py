"""Robust parsing of model answers: bare JSON, fenced JSON, JSON inside prose, tool calls.

Models (Perplexity Sonar in particular) wrap JSON in code fences or prose, prepend reasoning in
<think> tags, or answer through a tool call. This finds the JSON wherever it is; validation
against the answer schema is the caller's job.
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


def _scan(text: str) -> Any:
    """The first JSON object in free text (else the first array) that decodes completely."""
    decoder = json.JSONDecoder()
    first_list: Any = None
    for i, ch in enumerate(text):
        if ch not in "{[":
            continue
        try:
            value, _ = decoder.raw_decode(text, i)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
        if first_list is None and isinstance(value, list) and value:
            first_list = value
    if first_list is not None:
        return first_list
    raise AnswerParseError("no JSON object found in the answer")


def extract_json(text: str) -> Any:
    """The JSON value in a model's text answer (dict or list); AnswerParseError if none."""
    cleaned = _THINK.sub("", text).strip()
    if not cleaned:
        raise AnswerParseError("empty answer")
    try:
        return _loads(cleaned)
    except ValueError:
        pass
    for _lang, body in _FENCE.findall(cleaned):
        try:
            return _loads(body.strip())
        except ValueError:
            continue
    return _scan(cleaned)


def message_payload(message: AIMessage) -> tuple[str, Any]:
    """(raw text, JSON payload) of an answer: the first tool call's arguments, else the text."""
    text = message_text(message)
    if message.tool_calls:
        args = message.tool_calls[0]["args"]
        raw = json.dumps(args, ensure_ascii=False)
        return (f"{text}\n{raw}" if text else raw), args
    if message.invalid_tool_calls:
        args_text = str(message.invalid_tool_calls[0].get("args") or "")
        raw = f"{text}\n{args_text}" if text else args_text
        return raw, extract_json(args_text)
    return text, extract_json(text)
