"""Progress bars and messages: the one helper every long-running tinyjax call uses.

Conventions (docs/architecture.md):

- Long work takes ``progress: bool | None = None``. ``True`` shows a bar at once, ``False`` never,
  ``None`` (the default everywhere) shows one only when the work runs longer than :data:`AUTO_DELAY`
  seconds. Bars go to stderr (tqdm); they end at done, also when a fit stops before its iteration cap.
- Messages go through :mod:`logging` under the ``"tinyjax"`` logger (``logger(__name__)``); library code
  never prints to stdout. The command line turns these messages on at INFO level.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

AUTO_DELAY = 2.0   # seconds before an automatic (progress=None) bar appears


def logger(name: str) -> logging.Logger:
  """The logger for a tinyjax module (``name`` is its ``__name__``), a child of the "tinyjax" logger."""
  return logging.getLogger(name if name.startswith("tinyjax") else f"tinyjax.{name}")


class _NoBar:
  """Stands in for a tqdm bar when progress is off."""

  n = 0
  total = 0

  def update(self, k: int = 1) -> None:
    self.n += k

  def set_postfix(self, *args, **kwargs) -> None:
    pass

  def set_description(self, *args, **kwargs) -> None:
    pass


@contextlib.contextmanager
def progress_bar(total: int | None, *, desc: str, progress: bool | None = None, unit: str = "it",
                 leave: bool = False) -> Iterator:
  """A tqdm bar for ``total`` units of work, or a no-op stand-in when ``progress`` is False.

  Args:
    total: the number of units the work takes at most (an iteration cap, a number of folds).
    desc: what the work is, shown left of the bar.
    progress: True (show at once), False (never), None (show when the work outlasts ``AUTO_DELAY``).
    unit: the unit's name.
    leave: keep the finished bar on screen.

  Yields:
    An object with ``update(k)``, ``set_postfix(**kw)`` and ``set_description(s)``. On leaving the block
    the bar is completed: when the work ended early (a fit converged before its cap), its total is set
    to what was done, so the bar always ends at 100%.
  """
  if progress is False:
    yield _NoBar()
    return
  from tqdm.auto import tqdm

  bar = tqdm(total=total, desc=desc, unit=unit, delay=0.0 if progress else AUTO_DELAY, leave=leave)
  try:
    yield bar
  finally:
    if bar.total is not None and bar.n < bar.total:
      bar.total = bar.n
      bar.refresh()
    bar.close()


def check_progress(progress) -> bool | None:
  """Validates a ``progress`` argument (True, False or None)."""
  from tinyjax.errors import ConfigError

  if progress not in (True, False, None):
    raise ConfigError(f"progress must be True, False or None, got {progress!r}")
  return progress
