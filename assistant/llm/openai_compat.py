"""Use any OpenAI-compatible chat server (Ollama, vLLM, llama.cpp server, hosted APIs) as the LLM.

This is the path to larger models and GPUs: the assistant only needs `POST /v1/chat/completions`, with
and without `"stream": true` (server-sent events). Implemented on `httpx` directly, so no OpenAI SDK is
required. Errors name the URL: an unreachable server, a timeout, or a non-200 answer (with the body's
error message) each raise `LLMError` with what to check.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from assistant.llm.base import LLMError, OpenAIStyleLLM

_ERROR_BODY_CHARS = 500
_DONE = object()  # marks the end of an SSE stream


def chat_completions_url(base_url: str) -> str:
    """The chat endpoint for a base URL given the way each server documents it.

    `http://h:11434/v1` and `http://h:11434` both give `http://h:11434/v1/chat/completions`; a URL that
    already ends in `/chat/completions` is used as is.
    """
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"LLM endpoint must be an http(s) URL, got {base_url!r}")
    if url.endswith("/chat/completions"):
        return url
    last = parts.path.rsplit("/", 1)[-1]
    if last.startswith("v") and last[1:].isdigit():  # /v1, /v2 ...: the base already names the API version
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


class OpenAICompatibleLLM(OpenAIStyleLLM):
    """A llama-index LLM over an OpenAI-compatible `/v1/chat/completions` endpoint.

    Example:
        >>> llm = OpenAICompatibleLLM(base_url="http://127.0.0.1:11434/v1", model="qwen2.5:7b")
        >>> llm.complete("Say hi.").text
    """

    base_url: str = Field(description="Server base URL, e.g. http://127.0.0.1:11434/v1.")
    model: str = Field(default="default", description="Model name the server expects.")
    api_key: str | None = Field(default=None, exclude=True, repr=False, description="Bearer token, if any.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds to wait for a connection or a token.")

    _url: str = PrivateAttr()
    _client: httpx.Client = PrivateAttr()

    def __init__(self, base_url: str, model: str = "default", **kwargs: Any) -> None:
        """Check the URL's form (no request is made: the server may start later)."""
        url = chat_completions_url(base_url)
        super().__init__(base_url=base_url, model=model, **kwargs)
        self._url = url
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(self.timeout),
                                    follow_redirects=True)

    @classmethod
    def class_name(cls) -> str:
        """Name llama-index uses when serialising this LLM."""
        return "openai_compatible_llm"

    @property
    def url(self) -> str:
        """The full chat-completions URL requests go to."""
        return self._url

    @property
    def _source(self) -> str:
        return f"LLM endpoint {self._url}"

    @property
    def _model_name(self) -> str:
        return self.model

    def _extra_payload(self) -> dict[str, Any]:
        return {"model": self.model}

    def _send(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._transport_errors():
            response = self._client.post(self._url, json=payload)
        self._check_status(response)
        try:
            return response.json()
        except ValueError as exc:
            raise LLMError(f"{self._source} answered with non-JSON: {response.text[:_ERROR_BODY_CHARS]!r}") \
                from exc

    def _send_stream(self, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Open the SSE stream now (so connection errors surface at the call) and return its events."""
        request = self._client.build_request("POST", self._url, json=payload,
                                             headers={"Accept": "text/event-stream"})
        with self._transport_errors():
            response = self._client.send(request, stream=True)
        try:
            self._check_status(response)
        except BaseException:
            response.close()
            raise
        return self._sse_events(response)

    def _sse_events(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        """Parse `data:` lines into dicts until `[DONE]`; close the connection however iteration ends."""
        try:
            with self._transport_errors():
                for line in response.iter_lines():
                    event = self._parse_sse_line(line)
                    if event is _DONE:
                        return
                    if event is not None:
                        yield event
        finally:
            response.close()

    def _parse_sse_line(self, line: str) -> Any:
        if line.startswith("error:"):  # llama.cpp server reports mid-stream failures this way
            raise LLMError(f"{self._source} stream error: {line[6:].strip()[:_ERROR_BODY_CHARS]}")
        if not line.startswith("data:"):
            return None  # blank separators, comments (": ping"), event:/id: fields
        data = line[5:].strip()
        if data == "[DONE]":
            return _DONE
        try:
            return json.loads(data)
        except ValueError as exc:
            raise LLMError(f"{self._source} sent a malformed stream event: {data[:_ERROR_BODY_CHARS]!r}") \
                from exc

    def _check_status(self, response: httpx.Response) -> None:
        if response.status_code == 200:
            return
        response.read()
        raise LLMError(f"{self._source} returned HTTP {response.status_code}: {_error_text(response)}")

    def _transport_errors(self) -> contextlib.AbstractContextManager[None]:
        return _transport_errors(self._url, self.timeout)

    def close(self) -> None:
        """Close pooled connections (optional: they are also closed when the object is collected)."""
        self._client.close()


@contextlib.contextmanager
def _transport_errors(url: str, timeout: float) -> Iterator[None]:
    """Turn httpx transport failures into LLMError messages that name the URL and what to check."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise LLMError(f"LLM endpoint {url} did not answer within {timeout:g} s ({type(exc).__name__}); "
                       "is the server overloaded or the model still loading?") from exc
    except httpx.TransportError as exc:
        raise LLMError(f"cannot reach LLM endpoint {url}: {exc or type(exc).__name__}; is the server "
                       "running and the URL (setting 'llm_endpoint') right?") from exc


def _error_text(response: httpx.Response) -> str:
    """The most useful part of an error body: OpenAI's error.message when present, else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:_ERROR_BODY_CHARS] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:_ERROR_BODY_CHARS]
    if isinstance(error, str):
        return error[:_ERROR_BODY_CHARS]
    return json.dumps(body)[:_ERROR_BODY_CHARS]
