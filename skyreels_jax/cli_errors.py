"""How the command-line tools report errors: one line and exit status 2 for anything the user can change (a bad
value, a missing or unreadable file, an output in the way); a traceback, with a line saying it is a bug of ours,
for anything else."""
from __future__ import annotations

import argparse
import sys
import traceback
from typing import Callable

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError,
               ImportError, NotImplementedError)


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block), exit status 2 as argparse's."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split("\n")).strip() or type(error).__name__


def reporting_errors(run: Callable[[], int]) -> int:
    """run(), with its errors reported as the module says; its exit status."""
    try:
        return run()
    except USER_ERRORS as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug of ours, not of the input: the traceback is for the report
        traceback.print_exc()
        print("error: this is a bug in skyreels-jax, not in your input: please report it with the traceback above",
              file=sys.stderr)
        return 1
