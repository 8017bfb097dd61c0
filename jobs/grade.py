"""spark-submit entry point of the grade stage: same arguments as `techscreen grade`."""

import sys

from techscreen.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["grade", *sys.argv[1:]]))
