"""`python -m yatt.services.trainer --config F --set k=v`: the same as `yatt serve trainer`."""

from yatt.commands.serve import module_main

if __name__ == "__main__":
    module_main("trainer")
