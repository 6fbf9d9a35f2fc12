"""Errors that the CLI turns into one clear line and a documented exit code."""

import difflib
import textwrap

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3
EXIT_FAILED = 4
EXIT_OUTPUT = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports when the reader closed the pipe


class TransferbenchError(Exception):
    """An error caused by the user's input or environment, shown as one line."""

    exit_code = EXIT_USAGE

    def __init__(self, message=""):
        super().__init__(one_line(str(message)))


def one_line(text):
    """The text with newlines and other unprintable characters written as escapes (a key '\n' stays visible)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def first_line(exc, width=200):
    """The first line of an exception's message, shortened at a word boundary to `width` characters ('' if empty):
    a third-party error inside one of ours, without cutting a word or a URL in half."""
    lines = str(exc).strip().splitlines()
    return textwrap.shorten(lines[0], width, placeholder=" ...") if lines else ""


class UsageError(TransferbenchError):
    """A bad flag, config key or value."""


class DataError(TransferbenchError):
    """A dataset that cannot be found, read or verified."""


class OutputError(TransferbenchError):
    """The run folder cannot be written (disk full, permission lost); finished rows stay as they were."""

    exit_code = EXIT_OUTPUT


class Interrupted(TransferbenchError):
    """Ctrl-C or SIGTERM stopped the run; finished rows are saved and the message says how to resume."""

    exit_code = EXIT_INTERRUPTED


class WeightsUnavailable(TransferbenchError):
    """Pretrained weights that cannot be obtained; the row is skipped, never made random."""


def did_you_mean(name, choices):
    """Return ' (did you mean 'x'?)' for the closest of choices, or ''."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name(kind, name, choices):
    """Build a UsageError for an unknown registry name, listing the valid ones."""
    valid = ", ".join(sorted(choices))
    return UsageError(f"unknown {kind} '{name}'{did_you_mean(name, choices)}; valid: {valid}")
