"""The answer-repair rules, in one ordered registry: each can be switched off by name, and each answer says which fired.

The LLM's reply is verified and shaped by rules (ask again when the reply cannot stand, show the source's whole
date, drop the question's own words ...). A rule earns its place only by what it gains on validation data
(`python -m bench.rule_ablation` switches each off in turn). The registry gives them names, a family and a one-line
contract, so that a user can switch one off (`disabled_rules = "widen_date,drop_open_aside"`) and an answer's `rules`
lists those that changed it. Each family lives in its own module of this package: `evidence` (which sentences the
LLM reads), `reply` (when the LLM is asked again), `shape` (the phrase shown), `widen` (the located phrase widened
to what a reader is shown) and `decide` (answers that do not answer). This module imports none of them.

Example:
    >>> rules = Rules(frozenset({"drop_open_aside"}))
    >>> rules.on("drop_open_aside"), rules.on("widen_date")
    (False, True)
    >>> rules.apply("widen_date", lambda: (3, 9)), rules.fired
    ((3, 9), ['widen_date'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

# name -> (family, what it does). The order is the order in which they act on an answer.
RULES: dict[str, tuple[str, str]] = {
    # evidence: which sentences the LLM reads
    "named_source": ("evidence", "a question naming its document reads that document only"),
    "skip_other_speaker": ("evidence", "asked what someone said, sentences reporting another's words are not read"),
    # reply: asking the LLM again where its reply cannot stand
    "reask_refusal": ("reply", "a reply starting NOT FOUND is asked again, refusal banned, for the decision to judge"),
    "misread_possessive": ("reply", "a phrase naming the holder of what the question's subject owns: asked again "
                                    "without that sentence"),
    "sentence_alone": ("reply", "a sentence shown in place of a phrase is asked about alone, for its words"),
    # shape: the phrase shown
    "echo_shows_sentence": ("shape", "a reply still echoing the question shows the sentence it cited"),
    "statement_for_said": ("shape", "asked what someone said, the answer line is the cited statement"),
    "drop_open_aside": ("shape", "half a bracketed aside is dropped from the phrase"),
    # widening: the phrase located in the source, widened to what a reader is shown
    "widen_date": ("widen", "for 'when', the whole date"),
    "widen_direction": ("widen", "for 'where', the compass word before the place"),
    "widen_deed": ("widen", "for 'What did they fail to do?', the whole deed"),
    "widen_acronym": ("widen", "an acronym with the words it stands for"),
    "widen_conjunct": ("widen", "a question asking for several things gets both that the sentence joins by 'and'"),
    "close_clause": ("widen", "a phrase stopping mid-clause runs on to the clause's end"),
    # decide: answers that do not answer
    "restated_line": ("decide", "a whole cited line made only of the question's words abstains"),
    "names_none": ("decide", "an answer to 'Which <things>?' naming none of them abstains"),
}


class UnknownRule(ValueError):
    """A rule name that is not in the registry; the message lists the names."""


def check_names(names: Iterable[str]) -> frozenset[str]:
    """The names as a set, or UnknownRule naming the first unknown one."""
    chosen = frozenset(n.strip() for n in names if n.strip())
    unknown = sorted(chosen - set(RULES))
    if unknown:
        raise UnknownRule(f"unknown rule {unknown[0]!r}; the rules are: {', '.join(RULES)}")
    return chosen


@dataclass
class Rules:
    """The rules of one answer: which are off (from the settings), and which fired, in order."""

    disabled: frozenset[str] = frozenset()
    fired: list[str] = field(default_factory=list)

    def on(self, name: str) -> bool:
        if name not in RULES:
            raise UnknownRule(f"unknown rule {name!r}")
        return name not in self.disabled

    def mark(self, name: str) -> None:
        """Record that `name` changed the answer."""
        if name not in self.fired:
            self.fired.append(name)

    def check(self, name: str, condition: Callable[[], Any]) -> bool:
        """Whether rule `name` is on and its condition holds (recorded as fired)."""
        if self.on(name) and condition():
            self.mark(name)
            return True
        return False

    def apply(self, name: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`function`'s result when rule `name` is on (recorded as fired when the result is truthy); None when off."""
        if not self.on(name):
            return None
        result = function(*args, **kwargs)
        if result:
            self.mark(name)
        return result

    def transform(self, name: str, function: Callable[..., T], value: T, *args: Any, **kwargs: Any) -> T:
        """`function(value, ...)` when rule `name` is on (recorded as fired when it changes the value); `value` when
        off."""
        if not self.on(name):
            return value
        result = function(value, *args, **kwargs)
        if result != value:
            self.mark(name)
        return result
