"""The LLM nodes' model access: one way to call OpenAI and any OpenAI-compatible server alike.

What works on both OpenAI and the local llama-cpp-python server (see ../shared/services/README.md):
- structured output through a forced function call (`method="function_calling"`); the server rejects
  OpenAI's `json_schema` response format;
- tool calls with `tool_choice="auto"` said out loud (the server treats a missing `tool_choice` as none);
- tool results handed back as a user message: the server's chat template drops `tool` messages;
- no assistant message with `content: null` (the server answers 500): never sent, and blanked if it were;
- `max_tokens` always set, under that name for servers other than OpenAI's.
Every call is counted (calls, prompt and completion tokens) so the nodes can enforce their budgets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.json import parse_partial_json
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ValidationError

from graph.config import HealerSettings
from tools import tokens
from tools.calls import timed
from tools.redact import redact

M = TypeVar("M", bound=BaseModel)
TOOL_RESULT_CHARS = 6000  # one tool answer, as the model sees it
CONTEXT_MARGIN = 64  # the template's own markers and rounding


class CompatibleChatOpenAI(ChatOpenAI):
    """ChatOpenAI that also speaks to OpenAI-compatible servers with OpenAI's older request shape."""

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        for message in payload.get("messages", []):
            if message.get("content") is None:
                message["content"] = ""
        if self.openai_api_base and "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload


def chat_model(
    settings: HealerSettings,
    model: str,
    http_client: httpx.AsyncClient,
    *,
    base_url: str | None = None,
    max_retries: int = 1,
) -> BaseChatModel | None:
    """The chat model named `model`, or None when no LLM is configured (the graph then runs without one).

    `http_client` is the caller's, closed by the caller: langchain-openai's default client is shared by the
    whole process and bound to the first event loop that used it."""
    base_url = base_url or settings.openai_base_url
    if not (settings.openai_api_key or base_url):
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    return CompatibleChatOpenAI(
        model=model,
        api_key=key,
        base_url=base_url,
        temperature=0,
        max_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout_s,
        max_retries=max_retries,
        http_async_client=http_client,
    )


def estimate_tokens(text: str) -> int:
    """An upper estimate of what `text` costs the model (`tools/tokens.py`); exact counts come back in
    `Usage`."""
    return tokens.count(text)


def prompt_room(settings: HealerSettings, *schemas: type[BaseModel]) -> int:
    """Tokens the messages of one call may take: the model's context less the answer's allowance, the
    function definitions the server writes into the prompt, and a margin; never more than the
    evaluation budget."""
    definitions = sum(tokens.schema(convert_to_openai_tool(schema)) for schema in schemas)
    room = settings.llm_context_tokens - settings.llm_max_tokens - definitions - CONTEXT_MARGIN
    return max(0, min(settings.evaluation_prompt_tokens, room))


class LlmError(Exception):
    """The model could not be reached or gave no usable answer."""


@dataclass(slots=True)
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, message: BaseMessage | None) -> None:
        self.calls += 1
        usage = getattr(message, "usage_metadata", None) or {}
        self.prompt_tokens += int(usage.get("input_tokens", 0))
        self.completion_tokens += int(usage.get("output_tokens", 0))


def counted(state: Mapping[str, Any], usage: Usage) -> dict[str, int]:
    """The incident's running LLM totals with `usage` added, as a state update."""
    return {
        "llm_calls": state.get("llm_calls", 0) + usage.calls,
        "prompt_tokens": state.get("prompt_tokens", 0) + usage.prompt_tokens,
        "completion_tokens": state.get("completion_tokens", 0) + usage.completion_tokens,
    }


async def structured(
    llm: BaseChatModel, messages: Sequence[BaseMessage], schema: type[M], usage: Usage, *, tries: int = 2
) -> M:
    """Ask for `schema` through a forced function call; a reply that does not validate is shown its
    errors and asked once more."""
    runnable = llm.with_structured_output(schema, method="function_calling", include_raw=True)
    conversation = list(messages)
    problem = "no answer"
    for _ in range(tries):
        try:
            with timed("llm"):
                reply = await runnable.ainvoke(conversation)
        except Exception as error:  # the client raises many kinds; all mean "no analysis from the model"
            usage.calls += 1
            raise LlmError(f"the model call failed: {redact(str(error))[:300]}") from None
        raw: AIMessage | None = reply.get("raw")
        usage.add(raw)
        parsed = reply.get("parsed")
        if isinstance(parsed, schema):
            return parsed
        if (salvaged := salvage(raw, schema)) is not None:
            return salvaged
        problem = _why_unparsed(raw, reply.get("parsing_error"), schema)
        conversation.append(
            HumanMessage(f"That answer was not valid: {problem}. Call {schema.__name__} again, fixing it.")
        )
    raise LlmError(f"the model gave no valid {schema.__name__}: {problem}")


def salvage(raw: AIMessage | None, schema: type[M]) -> M | None:
    """The answer of a function call cut short by `max_tokens` (its arguments end mid-string), when what
    was written before the cut is a valid `schema`: the unfinished last string is dropped, every open list
    and object closed. A small model writes long quoted evidence last, so the cut costs only that."""
    for call in getattr(raw, "invalid_tool_calls", None) or []:
        text = call.get("args") or ""
        if call.get("name") != schema.__name__ or not isinstance(text, str):
            continue
        for end in (text.rfind('",'), text.rfind('"]'), text.rfind('"}')):
            if end <= 0:
                continue
            try:
                partial = parse_partial_json(text[: end + 1])
                return schema.model_validate(partial) if isinstance(partial, dict) else None
            except (ValueError, ValidationError):
                continue
    return None


def _why_unparsed(raw: AIMessage | None, error: Any, schema: type[BaseModel]) -> str:
    if raw is not None and raw.tool_calls:
        try:
            schema.model_validate(raw.tool_calls[0]["args"])
        except ValidationError as invalid:
            return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors()[:5])
    if error is not None:
        return redact(str(error))[:300]
    return "it did not call the function"


@dataclass(slots=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    answer: str

    def as_text(self) -> str:
        return f"{self.name}({json.dumps(self.args, sort_keys=True)}) returned:\n{self.answer}"


async def call_tools(
    llm: BaseChatModel,
    messages: Sequence[BaseMessage],
    tools: Sequence[BaseTool],
    usage: Usage,
    *,
    max_calls: int = 3,
    max_tokens: int | None = None,
) -> list[ToolCall]:
    """Let the model call some of `tools` once (at most `max_calls`) and run them. A model that calls none
    is fine: the list is empty. Results are meant to go back as a user message (see the module's notes)."""
    if not tools or max_calls <= 0:
        return []
    options: dict[str, Any] = {"tool_choice": "auto"}
    if max_tokens is not None:
        options["max_tokens"] = max_tokens  # a tool call is short; the answer's allowance is not needed
    try:
        with timed("llm"):
            reply = await llm.bind_tools(list(tools), **options).ainvoke(list(messages))
    except Exception as error:
        usage.calls += 1
        raise LlmError(f"the model call failed: {redact(str(error))[:300]}") from None
    usage.add(reply)
    by_name = {tool.name: tool for tool in tools}
    results: list[ToolCall] = []
    for call in getattr(reply, "tool_calls", [])[:max_calls]:
        tool, args = by_name.get(call["name"]), dict(call.get("args") or {})
        if tool is None:
            results.append(ToolCall(call["name"], args, "no such tool"))
            continue
        try:
            answer = await tool.ainvoke(args)
        except Exception as error:  # a tool's failure is something to tell the model, not to crash on
            answer = f"failed: {redact(str(error))[:300]}"
        results.append(ToolCall(call["name"], args, str(answer)[:TOOL_RESULT_CHARS]))
    return results


async def tool_round(
    llm: BaseChatModel,
    messages: Sequence[BaseMessage],
    tools: Sequence[BaseTool],
    usage: Usage,
    *,
    max_calls: int = 3,
) -> list[str]:
    """`call_tools`, each result as text for the next prompt."""
    return [call.as_text() for call in await call_tools(llm, messages, tools, usage, max_calls=max_calls)]


def conversation(system: str, user: str) -> list[BaseMessage]:
    return [SystemMessage(system), HumanMessage(user)]
