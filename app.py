"""Start the web UI: `python app.py [--host 127.0.0.1] [--port 7860] [--share] [settings flags]`.

The same as `assistant serve`: the page is served at once while the corpus is indexed (only what changed since
the last run) with progress on the console and on the page; then questions are answered with span-exact
citations. Settings flags (`--corpus`, `--mode`, `--top-k`, ...) are those of the `assistant` command, so a flag
means the same thing everywhere.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import assistant  # noqa: F401  (sets the offline switches before any heavy import)
from assistant.cli import _common, serve_flags, settings_from_args
from assistant.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    """Flags: where to listen, whether to share, and the assistant's settings."""
    parser = argparse.ArgumentParser(prog="app.py", description="Web UI: chat with your documents, every answer "
                                     "cited to the exact passage.")
    serve_flags(parser)
    _common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags and serve until Ctrl-C; a bad setting is one clear error line."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"app.py: error: {exc}", file=sys.stderr)
        return 2
    from assistant.ui import serve

    try:
        serve(settings, host=args.host, port=args.port, share=args.share)
    except ConfigError as exc:
        print(f"app.py: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
