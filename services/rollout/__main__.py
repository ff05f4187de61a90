"""`python -m yatt.services.rollout --config F --set k=v`: the same as `yatt serve rollout`."""

from yatt.process.main import module_main

if __name__ == "__main__":
    module_main("rollout", prog="python -m yatt.services.rollout")
