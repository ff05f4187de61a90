"""`python -m yatt.services.reference --config F --set k=v`: the same as `yatt serve reference`."""

from yatt.process.main import module_main

if __name__ == "__main__":
    module_main("reference", prog="python -m yatt.services.reference")
