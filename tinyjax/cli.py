"""The ``tinyjax`` command line.

Each feature registers its subcommands from its own module (``tinyjax/_cli_<feature>.py``), which
defines ``register(subparsers)``; every subcommand sets ``func`` (args -> exit code) with
``parser.set_defaults(func=...)``. Add the module's name to ``_COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

_COMMAND_MODULES = (
    "tinyjax._cli_irt",
    "tinyjax._cli_bandit",
    "tinyjax._cli_tiny",
    "tinyjax._cli_demo",
    "tinyjax._cli_select",
    "tinyjax._cli_forecast",
)


def build_parser() -> argparse.ArgumentParser:
  from tinyjax._version import __version__

  parser = argparse.ArgumentParser(
      prog="tinyjax",
      description="Evaluate LLMs at a fraction of the cost: IRT fits, tiny benchmarks, bandit evaluation, forecasting.",
  )
  parser.add_argument("--version", action="version", version=f"tinyjax {__version__}")
  subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
  for name in _COMMAND_MODULES:
    importlib.import_module(name).register(subparsers)
  return parser


def _enable_compilation_cache() -> None:
  """Persistent XLA compilation cache for the command line (a library import never turns it on).

  Compilation dominates a cold fit on CPU; with the cache a second ``tinyjax fit`` or ``tinyjax demo``
  in a new process skips it. ``TINYJAX_CACHE_DIR`` sets the folder (default ~/.cache/tinyjax/xla);
  ``TINYJAX_CACHE_DIR=off`` disables it.
  """
  import os

  path = os.environ.get("TINYJAX_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "tinyjax", "xla"))
  if path.lower() in ("off", "0", "none", ""):
    return
  import jax

  if jax.config.jax_compilation_cache_dir is None:
    try:
      os.makedirs(path, exist_ok=True)
    except OSError:
      return
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def _show_messages() -> None:
  """Library messages (``tinyjax.*`` loggers, INFO and up) go to stderr as plain lines while the command runs."""
  import logging

  log = logging.getLogger("tinyjax")
  if not any(getattr(h, "_tinyjax_cli", False) for h in log.handlers):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler._tinyjax_cli = True
    log.addHandler(handler)
  log.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
  from tinyjax.errors import InputError

  parser = build_parser()
  args = parser.parse_args(argv)
  if getattr(args, "func", None) is None:
    parser.print_help()
    return 2
  _enable_compilation_cache()
  _show_messages()
  try:
    return int(args.func(args) or 0)
  except InputError as err:   # a user's mistake: one line; anything else is a bug and keeps its traceback
    print(f"tinyjax {args.command}: error: {err}", file=sys.stderr)
    return 1


if __name__ == "__main__":
  sys.exit(main())
