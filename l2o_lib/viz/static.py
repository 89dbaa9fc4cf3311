"""Static fallbacks for the HTML book: pre-rendered frames behind sliders, working with no kernel.

A :class:`StaticSlider` holds one PNG per point of a grid (one or more slider axes) and renders as a
self-contained HTML block: range inputs, a play button on the first axis, and a few lines of inline
JavaScript that swap the image. No CDN, no kernel.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt


def figure_png(fig: Any, dpi: int = 72) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def redraw(out: Any, figsize: tuple[float, float], draw: Callable[[Any], None]) -> float:
    """Clear a widget's ``Output`` and show a new figure drawn by ``draw(fig)`` in it; returns the seconds taken."""
    t0 = time.perf_counter()
    out.clear_output(wait=True)
    with out:
        fig = plt.figure(figsize=figsize)
        draw(fig)
        fig.tight_layout()
        plt.show()
        plt.close(fig)
    return time.perf_counter() - t0


@dataclass
class StaticSlider:
    """Frames over a grid of slider values; ``frames[i]`` belongs to the i-th point of the grid in C order."""

    axes: list[tuple[str, list[str]]]
    frames: list[bytes]
    title: str = ""

    def __post_init__(self) -> None:
        if not self.axes:
            raise ValueError("StaticSlider needs at least one axis")
        expected = 1
        for name, labels in self.axes:
            if not labels:
                raise ValueError(f"StaticSlider axis {name!r} has no values")
            expected *= len(labels)
        if len(self.frames) != expected:
            raise ValueError(f"StaticSlider: {len(self.frames)} frames for a grid of {expected} points")

    @classmethod
    def render(
        cls,
        draw: Callable[..., Any],
        axes: Sequence[tuple[str, Sequence[Any]]],
        *,
        fmt: Callable[[Any], str] = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v),
        title: str = "",
        dpi: int = 72,
        progress: bool = True,
    ) -> StaticSlider:
        """Call ``draw(*values) -> figure`` at every grid point and keep the PNGs."""
        grid = list(itertools.product(*[list(v) for _, v in axes]))
        frames = []
        from tqdm.auto import tqdm

        for values in tqdm(grid, desc="rendering static frames", disable=not progress, leave=False):
            fig = draw(*values)
            frames.append(figure_png(fig, dpi=dpi))
            plt.close(fig)
        return cls([(name, [fmt(v) for v in vals]) for name, vals in axes], frames, title)

    def to_html(self) -> str:
        uid = "l2o" + uuid.uuid4().hex[:10]
        imgs = json.dumps(["data:image/png;base64," + base64.b64encode(f).decode() for f in self.frames])
        sizes = json.dumps([len(labels) for _, labels in self.axes])
        labels = json.dumps([labels for _, labels in self.axes])
        controls = []
        for i, (name, vals) in enumerate(self.axes):
            controls.append(
                f'<label style="display:block;margin:2px 0">{html.escape(name)} '
                f'<input type="range" class="l2o-static-slider" data-axis="{i}" min="0" max="{len(vals) - 1}" '
                f'value="0" step="1" style="width:60%;vertical-align:middle" aria-label="{html.escape(name)}"> '
                f'<span class="l2o-static-value" data-axis="{i}">{html.escape(vals[0])}</span></label>'
            )
        title = f"<div style='font-weight:600'>{html.escape(self.title)}</div>" if self.title else ""
        return f"""<div id="{uid}" class="l2o-static-widget" style="max-width:760px">
{title}<img class="l2o-static-frame" alt="{html.escape(self.title or 'interactive figure')}" src="" style="max-width:100%">
<div>{''.join(controls)}<button type="button" class="l2o-static-play">▶ play</button></div>
<script>(function() {{
  var root = document.getElementById("{uid}"), imgs = {imgs}, sizes = {sizes}, labels = {labels};
  var sliders = root.querySelectorAll("input.l2o-static-slider"), spans = root.querySelectorAll(".l2o-static-value");
  var img = root.querySelector("img.l2o-static-frame"), play = root.querySelector("button.l2o-static-play"), timer = null;
  function show() {{
    var idx = 0;
    for (var i = 0; i < sliders.length; i++) {{
      var v = parseInt(sliders[i].value); idx = idx * sizes[i] + v; spans[i].textContent = labels[i][v];
    }}
    img.src = imgs[idx]; root.setAttribute("data-frame", idx);
  }}
  for (var i = 0; i < sliders.length; i++) sliders[i].addEventListener("input", show);
  play.addEventListener("click", function() {{
    if (timer) {{ clearInterval(timer); timer = null; play.textContent = "▶ play"; return; }}
    play.textContent = "❚❚ pause";
    timer = setInterval(function() {{
      var s = sliders[sliders.length - 1]; s.value = (parseInt(s.value) + 1) % sizes[sliders.length - 1]; show();
    }}, 400);
  }});
  show();
}})();</script></div>"""

    def _repr_html_(self) -> str:
        return self.to_html()

    def save(self, path: str) -> None:
        """Write a standalone HTML page (for slides or a workshop handout)."""
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"<!doctype html><meta charset='utf-8'><body>{self.to_html()}</body>")
