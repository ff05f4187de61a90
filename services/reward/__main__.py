"""`python -m yatt.services.reward --config F --set k=v`: the same as `yatt serve reward`."""

from yatt.process.main import module_main

if __name__ == "__main__":
    module_main("reward", prog="python -m yatt.services.reward")
