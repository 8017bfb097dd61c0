"""spark-submit entry point of a whole pipeline: same arguments as `techscreen run`."""

import sys

from techscreen.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["run", *sys.argv[1:]]))
