"""The `neuralab` command: parse (`commands.build_parser`), run the verb, and turn a NeuralabError into one line.

A NeuralabError is something the user can act on (a bad option, a missing file) and is printed as one message;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
import textwrap
from typing import Callable, Sequence

from neuralab.commands import build_parser
from neuralab.errors import NeuralabError, Preempted


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    func: Callable[..., int] = ns.func
    if getattr(ns, "tensorboard", False):
        os.environ["NEURALAB_TENSORBOARD"] = "1"  # Run.log reads it; child runs and sub-experiments inherit it
    try:
        return func(ns)
    except Preempted as e:  # a preempted job is not a failure: the checkpoint is written, --resume continues
        print(str(e), file=sys.stderr)
        return 0
    except NeuralabError as e:
        print(f"error: {textwrap.indent(str(e), '  ').strip()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted. A training run can continue with `neuralab train --resume RUN`.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
