"""The one reader of this process's memory figures from /proc/self/status, shared by the benchmarks."""

from __future__ import annotations


def status_mib(field: str) -> float:
  """A /proc/self/status memory field of this process in MiB (``"VmRSS"`` now, ``"VmHWM"`` the peak); NaN where
  the file or the field is missing (not Linux)."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) / 1024.0
  except OSError:
    pass
  return float("nan")
