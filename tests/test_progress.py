"""The progress bar of `driftline demo` and `driftline replay`: a warning logged while it is drawn on a
terminal prints on a line of its own, never inside the bar."""

from __future__ import annotations

import io
import logging

import pytest

from driftline.progress import Progress


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_warning_during_the_bar_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    root = logging.getLogger()
    handler = logging.StreamHandler(term)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    monkeypatch.setattr(root, "handlers", [handler])
    bar = Progress(10)
    bar.update(3, 30, "inputs as in training")
    logging.getLogger("driftline.sdk").warning("the explainer failed")
    bar.update(6, 60, "inputs SHIFTED")
    bar.done()
    logging.getLogger("driftline.sdk").warning("after the bar")
    lines = term.getvalue().split("\n")
    # the bar, then the line cleared, then the warning alone on it; the bar again below; the later warning untouched
    assert lines[0].startswith("\r[#########")
    assert lines[0].endswith("\r\033[KWARNING driftline.sdk: the explainer failed")
    assert lines[1].startswith("\r[##################") and "inputs SHIFTED" in lines[1]
    assert lines[2] == "WARNING driftline.sdk: after the bar"
    assert not handler.filters  # the bar took its filter away when done


def test_off_a_terminal_the_bar_prints_lines_and_leaves_logging_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    handler = logging.StreamHandler(out)
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    bar = Progress(10)
    bar.update(5, 50)
    assert not handler.filters and out.getvalue().endswith("\n") and "\r" not in out.getvalue()
