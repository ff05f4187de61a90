"""`python -m yatt.process ROLE --config F --set k=v [--job J ...]`: one registered process."""

import sys

from yatt.process.main import module_main
from yatt.process.registry import PROCESSES

if len(sys.argv) < 2 or sys.argv[1] not in PROCESSES:
    print(f"usage: python -m yatt.process {{{','.join(PROCESSES)}}} [options]", file=sys.stderr)
    sys.exit(2)
module_main(sys.argv[1], sys.argv[2:])
