"""`python -m yatt.services.reward --config F --set k=v`: the same as `yatt serve reward`."""

from yatt.commands.serve import module_main

if __name__ == "__main__":
    module_main("reward")
