"""`python -m yatt.services.worker --slot N --job J ...`: the same as `yatt worker ...`."""

from yatt.process.main import module_main

if __name__ == "__main__":
    module_main("worker", prog="python -m yatt.services.worker")
