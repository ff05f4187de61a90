"""The reward service: scores samples with configured reward functions (plugins) over gRPC.

`python -m yatt.services.reward --config F --set k=v` or `yatt serve reward` runs it.
"""
