"""The ``tinyjax`` command line.

Each feature registers its subcommands from its own module (``tinyjax/_cli_<feature>.py``), which
defines ``register(subparsers)``; every subcommand sets ``func`` (args -> exit code) with
``parser.set_defaults(func=...)``. Add the module's name to ``_COMMAND_MODULES``.

Every parser in the tree, nested ones included, is a :class:`_Parser`, whose help shows each option's default
(:class:`_HelpFormatter`): help strings never write "(default ...)" themselves. Give every subcommand a
``help`` (the line in its parent's list) and a ``description``, and every option a ``help``;
``tests/test_cli.py`` walks the tree and checks all of it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

_COMMAND_MODULES = (
    "tinyjax._cli_irt",
    "tinyjax._cli_bandit",
    "tinyjax._cli_tiny",
    "tinyjax._cli_suite",
    "tinyjax._cli_demo",
    "tinyjax._cli_select",
    "tinyjax._cli_forecast",
)

_CACHE_ENV = "TINYJAX_CACHE_DIR"
_CACHE_OFF = ("off", "0", "none", "")
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "tinyjax", "xla")

_EPILOG = (
    "Compilation cache: the command line keeps JAX's compiled programs in a persistent cache, "
    f"{DEFAULT_CACHE_DIR}, so a second run of a command skips most compilation (the library alone never "
    "turns it on). Move it with --cache-dir DIR or the environment variable TINYJAX_CACHE_DIR=DIR; turn it "
    "off with --no-cache or TINYJAX_CACHE_DIR=off. The options win over the environment variable, and a "
    "cache folder already set in JAX's own configuration (JAX_COMPILATION_CACHE_DIR) is left as it is. "
    "Run 'tinyjax COMMAND --help' for the options of a command."
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
  """Appends " (default: X)" to an option's help when it has a default worth showing.

  Flags (options without a value) and options whose default is None show none: there "default" means
  "not given", which the help string says in words when it matters.
  """

  def _get_help_string(self, action: argparse.Action) -> str:
    if _shows_default(action):
      return super()._get_help_string(action)
    return action.help or ""


def _shows_default(action: argparse.Action) -> bool:
  """Whether the help of ``action`` lists its default (the rule of :class:`_HelpFormatter`)."""
  if action.default is None or action.default is argparse.SUPPRESS or action.default is False:
    return False
  if action.nargs == 0:                      # store_true/store_const/count/help/version: flags
    return False
  if isinstance(action.default, (list, tuple, str)) and len(action.default) == 0:
    return False
  return bool(action.option_strings) or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)


class _Parser(argparse.ArgumentParser):
  """An ArgumentParser whose help shows defaults; ``add_subparsers`` makes more of the same class."""

  def __init__(self, *args, **kwargs):
    kwargs.setdefault("formatter_class", _HelpFormatter)
    super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
  from tinyjax._version import __version__

  parser = _Parser(
      prog="tinyjax",
      description="Evaluate LLMs at a fraction of the cost: IRT fits, tiny benchmarks, bandit evaluation, "
                  "forecasting.",
      epilog=_EPILOG,
  )
  parser.add_argument("--version", action="version", version=f"tinyjax {__version__}")
  cache = parser.add_mutually_exclusive_group()
  cache.add_argument("--cache-dir", metavar="DIR", default=None,
                     help=f"folder of the persistent compilation cache; without it, ${_CACHE_ENV} or "
                          f"{DEFAULT_CACHE_DIR} (give it before COMMAND)")
  cache.add_argument("--no-cache", action="store_true",
                     help=f"do not turn on the persistent compilation cache, whatever ${_CACHE_ENV} says "
                          "(give it before COMMAND)")
  # parser_class: every subcommand's parser, and every parser they nest, shows defaults the same way
  subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                     help="what to run ('tinyjax COMMAND --help' for its options)")
  for name in _COMMAND_MODULES:
    importlib.import_module(name).register(subparsers)
  return parser


def _cache_dir(args: argparse.Namespace) -> str | None:
  """The cache folder this run uses, or None for none: --no-cache, then --cache-dir, then the variable."""
  if getattr(args, "no_cache", False):
    return None
  path = getattr(args, "cache_dir", None)
  if path is None:
    path = os.environ.get(_CACHE_ENV, DEFAULT_CACHE_DIR)
    if path.strip().lower() in _CACHE_OFF:
      return None
  return os.path.expanduser(path)


def _enable_compilation_cache(path: str | None) -> None:
  """Persistent XLA compilation cache for the command line (a library import never turns it on).

  Compilation dominates a cold fit on CPU; with the cache a second ``tinyjax fit`` or ``tinyjax demo``
  in a new process skips it. ``path`` comes from :func:`_cache_dir`; None leaves JAX's configuration as it
  is, and so does a cache folder the user already set in JAX's own configuration.
  """
  if path is None:
    return
  import jax

  if jax.config.jax_compilation_cache_dir is None:
    try:
      os.makedirs(path, exist_ok=True)
    except OSError as err:
      import logging

      logging.getLogger("tinyjax.cli").warning("compilation cache off: cannot create %s (%s)", path,
                                               err.strerror or err)
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


def _check_inputs(args: argparse.Namespace) -> None:
  """A mistyped input path is an error before anything heavy is imported (the arguments typed input_path)."""
  from tinyjax._cli_common import missing_inputs
  from tinyjax.errors import MissingFileError

  missing = missing_inputs(args)
  if missing:
    raise MissingFileError(f"no such file or folder: {missing[0]}")


def _check_outputs(args: argparse.Namespace) -> None:
  """Fails before the work starts when an output file (--out, --plot, ...) cannot be a file.

  A path that names an existing folder, or lies under an existing file, is a mistake found in a moment here
  rather than after a long fit. (Missing parent folders are fine: the commands create them.)
  """
  from tinyjax.errors import ConfigError

  for dest in ("out", "plot", "anchors_out"):
    path = getattr(args, dest, None)
    if not isinstance(path, str):
      continue
    flag = "--" + dest.replace("_", "-")
    if os.path.isdir(path):
      raise ConfigError(f"{flag} {path} is a folder; give a file name")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
      parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
      raise ConfigError(f"{flag} {path}: {parent} is a file, not a folder")


def write_csv(frame, path) -> None:
  """Writes a DataFrame to ``path`` as CSV, atomically (a temporary file beside it, then ``os.replace``)."""
  from tinyjax._atomic import atomic_write

  with atomic_write(path, "w", newline="") as f:
    frame.to_csv(f, index=False)


def write_json(doc, path) -> None:
  """Writes ``doc`` to ``path`` as indented JSON, atomically."""
  import json

  from tinyjax._atomic import atomic_write_text

  atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def save_figure(fig, path, **kwargs) -> None:
  """Saves a matplotlib figure to ``path`` atomically, in the format its suffix names (png without one)."""
  import pathlib

  from tinyjax._atomic import atomic_write

  fmt = pathlib.Path(path).suffix[1:].lower() or "png"
  if fmt not in fig.canvas.get_supported_filetypes():
    from tinyjax.errors import ConfigError

    raise ConfigError(f"cannot write a figure as .{fmt} ({path}); use one of "
                      f"{', '.join(sorted(fig.canvas.get_supported_filetypes()))}")
  with atomic_write(path, "wb") as f:
    fig.savefig(f, format=fmt, **kwargs)


class _StdoutGuard:
  """Stands in for ``sys.stdout`` while a command runs: once the reader of a pipe has gone
  (``tinyjax ... | head``), later output is dropped instead of raising, so the command still finishes and writes
  its files; :func:`main` then exits 141."""

  def __init__(self, stream):
    self._stream = stream
    self.broken = False

  def _guarded(self, call, *args):
    if self.broken:
      return None
    try:
      return call(*args)
    except BrokenPipeError:
      self.broken = True
      _stdout_to_devnull()
      return None

  def write(self, text):
    self._guarded(self._stream.write, text)
    return len(text)

  def writelines(self, lines):
    for line in lines:
      self.write(line)

  def flush(self):
    self._guarded(self._stream.flush)

  def __getattr__(self, name):   # fileno, isatty, encoding, buffer ...
    return getattr(self._stream, name)


def _stdout_to_devnull() -> None:
  """After a broken pipe: later writes to stdout (the interpreter's final flush too) go nowhere."""
  try:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
  except (OSError, ValueError, AttributeError):   # stdout is not a file (e.g. captured in a test)
    pass


def main(argv: list[str] | None = None) -> int:
  """Runs ``tinyjax ARGS``; returns the exit code.

  0: done. 1: a user's mistake (an ``InputError``, or a file that cannot be read or written), printed as one
  line naming the file or value. 2: a usage error (argparse) or no command. 130: interrupted (Ctrl-C).
  141: stdout was closed early (``tinyjax ... | head``), like a tool ended by SIGPIPE; the command still runs to
  its end, so the files it writes (``--out``, ``--plot``, ...) are complete. Anything else is a bug and keeps its
  traceback. Every file the commands write goes through ``tinyjax._atomic`` (:func:`write_csv`,
  :func:`write_json`, :func:`save_figure`, artifacts' ``save``), and is written before the command prints.
  """
  from tinyjax.errors import InputError

  parser = build_parser()
  args = parser.parse_args(argv)
  if getattr(args, "func", None) is None:
    parser.print_help()
    return 2
  name = f"tinyjax {args.command}"
  real_stdout = sys.stdout
  guard = _StdoutGuard(real_stdout)
  try:
    _check_outputs(args)
    _check_inputs(args)
    _enable_compilation_cache(_cache_dir(args))
    _show_messages()
    sys.stdout = guard   # a closed pipe no longer stops the command before it has written its files
    try:
      code = int(args.func(args) or 0)
      guard.flush()   # a closed pipe shows here, not in the interpreter's last flush
    finally:
      sys.stdout = real_stdout
    return 141 if guard.broken else code
  except BrokenPipeError:   # the one place a closed pipe is handled: exit 141, no traceback
    _stdout_to_devnull()
    return 141
  except InputError as err:   # a user's mistake: one line; anything else is a bug and keeps its traceback
    print(f"{name}: error: {err}", file=sys.stderr)
    return 1
  except OSError as err:
    if err.filename is None:   # not about a path the user gave: a bug, keep the traceback
      raise
    where = err.filename if err.filename2 is None else f"{err.filename} -> {err.filename2}"
    print(f"{name}: error: {where}: {err.strerror or err}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print(f"{name}: interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":
  sys.exit(main())
