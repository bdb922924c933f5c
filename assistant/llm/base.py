"""What the local and the remote LLM share: OpenAI-style chat requests, responses and streams.

Both backends speak the OpenAI `/v1/chat/completions` format (xllamacpp's embedded llama.cpp server in
process, or any server over HTTP), so everything but the transport lives here: turning llama-index
messages into OpenAI messages, building the request, and turning responses and stream chunks back into
llama-index `ChatResponse`/`CompletionResponse` objects. A backend implements `_send` and `_send_stream`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from llama_index.core.base.llms.generic_utils import (
    chat_response_to_completion_response,
    stream_chat_response_to_completion_response,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

# A fixed system prompt keeps the start of every request identical, so the backend's prompt cache reuses
# its KV state; callers that need another instruction pass their own system message.
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer accurately and concisely."

# Per-call keyword arguments forwarded into the request body (anything else llama-index passes is ignored).
REQUEST_OPTIONS = frozenset({
    "max_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "presence_penalty",
    "frequency_penalty", "repeat_penalty", "response_format", "json_schema", "grammar", "n_probs",
    "logprobs", "top_logprobs", "logit_bias",
})

_ROLE_MAP = {
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.DEVELOPER: "system",
    MessageRole.FUNCTION: "tool",
}


class LLMError(RuntimeError):
    """A backend could not produce an answer; the message says which backend and why."""


def to_openai_messages(messages: Sequence[ChatMessage], system_prompt: str | None) -> list[dict[str, str]]:
    """Convert llama-index messages to OpenAI ones, prepending `system_prompt` when none is given."""
    converted = [{"role": _ROLE_MAP.get(m.role, m.role.value), "content": m.content or ""} for m in messages]
    if system_prompt and not any(m["role"] == "system" for m in converted):
        converted.insert(0, {"role": "system", "content": system_prompt})
    return converted


def _response_extras(data: dict[str, Any], choice: dict[str, Any]) -> dict[str, Any]:
    extras = {"finish_reason": choice.get("finish_reason"), "usage": data.get("usage"),
              "timings": data.get("timings")}
    return {k: v for k, v in extras.items() if v is not None}


def parse_chat_response(data: dict[str, Any], source: str) -> ChatResponse:
    """Turn a non-streaming OpenAI chat completion into a `ChatResponse`; an error body raises LLMError."""
    _raise_on_error(data, source)
    choices = data.get("choices") or []
    if not choices:
        raise LLMError(f"{source}: response has no choices: {str(data)[:300]}")
    choice = choices[0]
    content = (choice.get("message") or {}).get("content") or ""
    return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=content), raw=data,
                        additional_kwargs=_response_extras(data, choice))


def parse_chat_stream(chunks: Iterator[dict[str, Any]], source: str) -> ChatResponseGen:
    """Turn OpenAI `chat.completion.chunk` dicts into llama-index stream responses.

    Each yielded response carries the new text in `delta` and the text so far in `message.content`
    (the llama-index convention). A final chunk carrying finish_reason/usage/timings is yielded with an
    empty delta so callers can read them from `additional_kwargs`.
    """
    text = ""
    for chunk in chunks:
        _raise_on_error(chunk, source)
        choices = chunk.get("choices") or [{}]
        choice = choices[0]
        piece = (choice.get("delta") or {}).get("content") or ""
        extras = _response_extras(chunk, choice)
        if not piece and not extras:
            continue
        text += piece
        yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece,
                           raw=chunk, additional_kwargs=extras)


def _raise_on_error(data: dict[str, Any], source: str) -> None:
    error = data.get("error")
    if error is None:
        return
    message = error.get("message", error) if isinstance(error, dict) else error
    raise LLMError(f"{source}: {message}")


class OpenAIStyleLLM(CustomLLM):
    """A llama-index LLM over an OpenAI-style chat backend; subclasses provide the transport."""

    context_window: int = Field(default=2048, gt=0, description="Tokens of prompt plus answer.")
    max_tokens: int = Field(default=256, gt=0, description="Most tokens generated per answer.")
    temperature: float = Field(default=0.0, ge=0.0, description="0 = greedy, reproducible answers.")
    stop: list[str] = Field(default_factory=list, description="Extra stop sequences.")
    system_prompt: str | None = Field(default=DEFAULT_SYSTEM_PROMPT,
                                      description="Prepended when the messages carry no system message.")
    # Whether `logit_bias` may name tokens by their text ([["NOT", false]], llama.cpp's form); OpenAI's API wants
    # token ids, which differ per model, so other backends never get a text-keyed bias.
    accepts_text_logit_bias: ClassVar[bool] = False

    # --- transport, implemented by backends -------------------------------------------------------
    def _send(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _send_stream(self, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _extra_payload(self) -> dict[str, Any]:
        """Backend-specific request fields (model name, cache hints)."""
        return {}

    @property
    def _source(self) -> str:
        """How errors name this backend."""
        return type(self).__name__

    @property
    def _model_name(self) -> str:
        return "unknown"

    # --- llama-index API --------------------------------------------------------------------------
    @property
    def metadata(self) -> LLMMetadata:
        """Context size, answer budget and chat-ness, as llama-index prompt helpers need them."""
        return LLMMetadata(context_window=self.context_window, num_output=self.max_tokens,
                           is_chat_model=True, model_name=self._model_name)

    def _payload(self, messages: Sequence[ChatMessage], stream: bool, options: dict[str, Any]) -> dict:
        payload: dict[str, Any] = {
            "messages": to_openai_messages(messages, self.system_prompt),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }
        if self.stop:
            payload["stop"] = list(self.stop)
        payload.update(self._extra_payload())
        payload.update({k: v for k, v in options.items() if k in REQUEST_OPTIONS and v is not None})
        return payload

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return parse_chat_response(self._send(self._payload(messages, False, kwargs)), self._source)

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        payload = self._payload(messages, True, kwargs)
        return parse_chat_stream(self._send_stream(payload), self._source)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Answer a conversation; keyword arguments in REQUEST_OPTIONS override the defaults per call."""
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Like `chat`, yielding each new piece of text as the model produces it."""
        return self._stream_chat(messages, **kwargs)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Answer one user prompt (sent as a chat turn; `formatted` is ignored: the chat template applies)."""
        return chat_response_to_completion_response(self._chat([ChatMessage(role="user", content=prompt)],
                                                               **kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """Like `complete`, streamed."""
        gen = self._stream_chat([ChatMessage(role="user", content=prompt)], **kwargs)
        return stream_chat_response_to_completion_response(gen)
