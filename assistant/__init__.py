"""A local, offline, chat-style question-answering assistant whose every answer cites the exact passage.

Importing the package only sets the offline switches (see `assistant.offline`); the heavy pipeline is imported
on first use so that `assistant --help` stays instant.

Example:
    >>> from assistant import Assistant, load_settings
    >>> bot = Assistant(load_settings(overrides={"mode": "fast"}))  # doctest: +SKIP
    >>> bot.ask("Where was Geneva II held?").short_answer  # doctest: +SKIP
    'Montreux'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.offline import ensure_offline

ensure_offline()

from assistant.config import Settings, load_settings  # noqa: E402

if TYPE_CHECKING:
    from assistant.pipeline import Assistant

__all__ = ["Assistant", "Settings", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from assistant.pipeline import Assistant

        return Assistant
    raise AttributeError(name)
