"""``python -m bench [run options]`` runs the benchmarks; ``python -m bench generate ...``
fills the database first; ``python -m bench explain`` writes the hot queries' plans to
``bench/notes/plans.md``. ``python -m bench --help`` / ``generate --help`` list options."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "generate":
        from .generate import main as generate_main

        return generate_main(argv[1:])
    if argv and argv[0] == "explain":
        from .explain import main as explain_main

        return explain_main(argv[1:])
    if argv and argv[0] == "run":
        argv = argv[1:]
    from .run import main as run_main

    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
