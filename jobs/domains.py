"""spark-submit entry point of the domains stage: same arguments as `techscreen domains`."""

import sys

from techscreen.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["domains", *sys.argv[1:]]))
