"""spark-submit entry point of the embed stage: same arguments as `techscreen embed`."""

import sys

from techscreen.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["embed", *sys.argv[1:]]))
