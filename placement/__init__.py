"""Placement: moves worker slots between roles as load shifts (leader-elected service, policies)."""
