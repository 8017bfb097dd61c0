"""spark-submit entry point of the cluster stage: same arguments as `techscreen cluster`."""

import sys

from techscreen.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["cluster", *sys.argv[1:]]))
