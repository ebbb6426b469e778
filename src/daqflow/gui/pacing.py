"""How often views redraw: at most ``max_fps`` each, and all together no more of the loop's
time than the graph leaves them.

Drawing runs on the loop the graph runs on (qasync: Qt's thread), so every millisecond a
view spends is a millisecond the graph does not get. A `Pacing` is shared by the views of one
window. It knows each view's cost per frame (taking items in, ``draw``, and the widget's
paint, measured) and the share of the loop's time the views may use; a view then waits at
least ``cost * views / share`` seconds between frames.

``share`` follows how idle the loop is (`observe`: the graph's busy share and the views'):
when less than ``headroom`` of the loop is idle, the graph may want every bit of it (a
source running flat out always does), so the views get ``budget`` at once; when more is
idle, their share grows (by half at most per look) up to ``1 - load - headroom``. A graph
running flat out thus keeps all but ``budget`` of the loop, and a paced one lets the views
draw at ``max_fps``.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .view import View

BUDGET = 0.02  # share of the loop's time views may always take, even when the graph is flat out
HEADROOM = 0.15  # share of the loop's time left free when the graph is not flat out
UNKNOWN_SHARE = 0.5  # share used while nobody measures the graph's load


def _check_share(value: float, what: str) -> float:
    value = float(value)
    if not 0 < value <= 1:
        raise ValueError(f"{what} must be a share of time in (0, 1], got {value!r}")
    return value


class Pacing:
    """The drawing budget of a set of views (one per window; `daqflow.gui.arun` makes it).

    Args:
        budget: share of the loop's time (0..1] all the views may take when the graph is busy.
        headroom: share left idle when the graph is not busy (views take up to
            ``1 - load - headroom``).
        share: the starting share (default: `UNKNOWN_SHARE` until `observe` is called).
    """

    def __init__(self, budget: float = BUDGET, headroom: float = HEADROOM,
                 share: float | None = None):
        self.budget = _check_share(budget, "budget")
        if not 0 <= headroom < 1:
            raise ValueError(f"headroom must be in [0, 1), got {headroom!r}")
        self.headroom = float(headroom)
        self.share = _check_share(UNKNOWN_SHARE if share is None else max(share, self.budget),
                                  "share")
        self.load: float | None = None
        self._views: weakref.WeakSet[View] = weakref.WeakSet()

    def add(self, view: View) -> None:
        self._views.add(view)

    def discard(self, view: View) -> None:
        self._views.discard(view)

    @property
    def views(self) -> int:
        """Views drawing now."""
        return len(self._views)

    def observe(self, load: float, drawing: float) -> None:
        """What the loop did lately: ``load`` the graph's share of its time (views excluded),
        ``drawing`` the views' share (0..1 each)."""
        self.load = load = min(1.0, max(0.0, float(load)))
        idle = 1.0 - load - max(0.0, float(drawing))
        if idle < self.headroom:  # busy: the graph comes first
            self.share = self.budget
        else:
            self.share = min(1.0 - load - self.headroom, 1.5 * self.share)
        self.share = min(1.0, max(self.budget, self.share))

    def drawing(self) -> float:
        """Seconds the views have spent (taking in, drawing, painting) so far."""
        return sum(view.spent for view in self._views)

    def interval(self, max_fps: float, cost: float) -> float:
        """Seconds to wait before the next frame of a view whose frames cost ``cost`` s."""
        return max(1.0 / max_fps, cost * max(1, len(self._views)) / self.share)

    def __repr__(self) -> str:
        load = "unknown" if self.load is None else f"{self.load:.2f}"
        return (f"<Pacing share {self.share:.3f} (budget {self.budget:g}), load {load}, "
                f"{self.views} views>")


default_pacing = Pacing()  # views run by plain daqflow.arun inside a qasync loop share it
