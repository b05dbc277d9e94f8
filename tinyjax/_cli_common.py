"""Options and readers shared by the ``tinyjax`` subcommands that read a models x items matrix.

Every subcommand that reads a matrix adds the same ``--header/--no-header`` and ``--drop-empty`` options
with :func:`add_matrix_options` and reads it with :func:`read_matrix`; every ``--seed`` uses
:func:`seed_type`, the CLI face of the library's one seed rule (a non-negative integer).
"""

from __future__ import annotations

import argparse


def add_matrix_options(parser: argparse.ArgumentParser) -> None:
  """Adds ``--header`` / ``--no-header`` (dest ``header``, None = decide from the file) and ``--drop-empty``."""
  g = parser.add_mutually_exclusive_group()
  g.add_argument("--header", dest="header", action="store_const", const=True, default=None,
                 help="the first line of a CSV/TSV file holds the item ids; with neither --header nor "
                      "--no-header (None) it is decided from the file: a first line that is all numbers is data")
  g.add_argument("--no-header", dest="header", action="store_const", const=False,
                 help="the first line of a CSV/TSV file is data, not item ids")
  parser.add_argument("--drop-empty", action="store_true",
                      help="drop models (rows) and items (columns) without any answer, and report them, "
                           "instead of failing")


def read_matrix(args: argparse.Namespace, source):
  """``tinyjax.data.load_responses`` with the options of :func:`add_matrix_options`."""
  from tinyjax import data

  return data.load_responses(source, header=getattr(args, "header", None),
                             drop_empty=getattr(args, "drop_empty", False))


def number_type(kind, minimum, what: str, *, strict: bool = False, words: tuple[str, ...] = ()):
  """An argparse ``type=``: a ``kind`` (int or float) >= ``minimum`` (> with ``strict``), or one of ``words``.

  A bad value is a usage error that names it: "``what``, got VALUE" (e.g. "a seed is a non-negative integer").
  """
  def parse(value: str):
    if value in words:
      return value
    try:
      number = kind(value)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{what}, got {value!r}") from None
    if number < minimum or (strict and number == minimum) or number != number:
      raise argparse.ArgumentTypeError(f"{what}, got {value}")
    return number

  return parse


#: ``--seed``: the CLI face of the library's one seed rule.
seed_type = number_type(int, 0, "a seed is a non-negative integer")
#: a count such as ``--anchors``.
count_type = number_type(int, 1, "expected a positive integer")
#: ``--dim`` of ``fit`` and ``build``.
dim_type = number_type(int, 1, "a dimension is a positive integer or 'auto'", words=("auto",))


class InputPath(str):
  """A file or folder a command reads (the type of its argument is :func:`input_path`)."""


def input_path(value: str) -> InputPath:
  """argparse type of an input file or folder: ``tinyjax.cli.main`` checks that each exists before the command
  imports JAX, so a mistyped path is answered at once."""
  return InputPath(value)


def missing_inputs(args) -> list[str]:
  """The :class:`InputPath` values of parsed ``args`` that name nothing on disk."""
  import os

  values = []
  for v in vars(args).values():
    values.extend(v if isinstance(v, (list, tuple)) else [v])
  return [v for v in values if isinstance(v, InputPath) and not os.path.exists(v)]

