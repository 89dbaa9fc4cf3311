"""Show the source of a library function in a notebook, so that the code shown is the code that ran."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any


class _Source:
    def __init__(self, code: str, name: str):
        self.code, self.name = code, name

    def _repr_markdown_(self) -> str:
        return f"`{self.name}` (from `l2o_lib`):\n\n```python\n{self.code}\n```"

    def __str__(self) -> str:
        return self.code


def show_source(obj: Any) -> _Source:
    """Displayable source of ``obj`` (a function, class or method)."""
    try:
        code = inspect.getsource(obj)
    except (TypeError, OSError) as exc:
        raise TypeError(f"show_source: no source for {obj!r} ({exc})") from exc
    return _Source(textwrap.dedent(code).rstrip(), getattr(obj, "__qualname__", str(obj)))
