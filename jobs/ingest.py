"""spark-submit entry point of the ingest stage: same arguments as `techscreen ingest`."""

import sys

from techscreen.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["ingest", *sys.argv[1:]]))
