"""Bundled verifiable tasks (prompt + exact answer) and their evaluation.

They give the end-to-end learning test and `yatt demo` a task whose reward is a rule, not a model.
"""
