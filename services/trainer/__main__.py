"""`python -m yatt.services.trainer --config F --set k=v`: the same as `yatt serve trainer`."""

from yatt.process.main import module_main

if __name__ == "__main__":
    module_main("trainer", prog="python -m yatt.services.trainer")
