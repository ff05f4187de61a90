"""The test harness: helpers that start real things (etcd, processes, whole jobs) for tests and
benchmarks, and usable by plugin authors' tests; nothing here is a fake.

No production module imports this package (an import-linter contract in pyproject.toml).
"""
