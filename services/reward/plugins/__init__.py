"""Reward functions: the interface (base.py), one file per built-in, and the registry.

Other packages add functions through the `yatt.rewards` entry-point group.
"""
