"""Test helpers that start real things: an etcd server, child processes on free ports.

Used by yatt's own tests and usable by plugin authors' tests; nothing here is a fake.
"""
