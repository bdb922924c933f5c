"""A stand-in for the local LLM that answers with scripted replies, for tests of what the pipeline does with them."""

from types import SimpleNamespace


class ScriptedLLM:
    """Answers with each scripted reply in turn (with first-token logprobs), recording the options of each call."""

    accepts_text_logit_bias = True

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.calls: list[dict] = []

    def stream_chat(self, chat, **options):
        reply = self.reply(chat)
        self.calls.append(options)
        first, _, rest = reply.partition(" ")
        for i, piece in enumerate((first, " " + rest) if rest else (first,)):
            raw = {"choices": [{"logprobs": {"content": [{"token": piece, "logprob": -0.1, "top_logprobs": (
                [{"token": piece, "logprob": -0.1}] if i == 0 else [])}]}}]}
            yield SimpleNamespace(delta=piece, raw=raw)

    def reply(self, chat) -> str:  # noqa: ANN001
        return self.replies[min(len(self.calls), len(self.replies) - 1)]
