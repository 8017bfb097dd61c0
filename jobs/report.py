"""spark-submit entry point of the report stage: same arguments as `techscreen report`."""

import sys

from techscreen.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["report", *sys.argv[1:]]))
