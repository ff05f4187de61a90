"""A short supervised pass (loss on completion tokens only) that warm-starts a policy for RL.

`yatt sft` and `yatt demo` use it so GRPO starts from a model whose samples are sometimes right.
"""
