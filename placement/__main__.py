"""`python -m yatt.placement run --config F --set k=v`: the same as `yatt placement run`.

The map and history (`status`) and the starting map (`init`) are `yatt placement` commands.
"""

import sys

from yatt.process.main import module_main

if __name__ == "__main__":
    if sys.argv[1:2] != ["run"]:
        print(
            "usage: python -m yatt.placement run [--config F] [--set k=v] [--job J] [--etcd H:P]"
            "\n(status, init: `yatt placement status|init`)",
            file=sys.stderr,
        )
        sys.exit(2)
    module_main("placement", sys.argv[2:], prog="python -m yatt.placement run")
