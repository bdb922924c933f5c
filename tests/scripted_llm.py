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


class LineQuotingLLM(ScriptedLLM):
    """Answers from the first (needle, words) pair whose needle is on a line of the prompt: the words, with the
    mark of that line ("Ahmed Jarba [2]"); "NOT FOUND" when no needle is there. Models a reader that prefers some
    sentences, so a test can check what the pipeline does when it cites one that misleads."""

    def __init__(self, answers: list[tuple[str, str]]) -> None:
        super().__init__(["unused"])
        self.answers = answers

    def reply(self, chat) -> str:  # noqa: ANN001
        lines = chat[-1].content.splitlines()
        for needle, words in self.answers:
            line = next((line for line in lines if needle in line), None)
            if line is not None:
                return f"{words} {line.split(']', 1)[0]}]"
        return "NOT FOUND"
