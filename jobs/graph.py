"""spark-submit entry point of the graph stage: same arguments as `techscreen graph`."""

import sys

from techscreen.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["graph", *sys.argv[1:]]))
