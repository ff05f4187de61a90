"""Fixtures for security tests: a development PKI from `yatt certs` and a second, rogue one.

Certificates are made once per session (ECDSA keys: milliseconds) in a temp directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from yatt.security.certs import CertFiles, make_dev_certs


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_dev_certs(tmp_path_factory.mktemp("pki"), ["127.0.0.1", "localhost"])


@pytest.fixture(scope="session")
def rogue_pki(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """Same names, different CA: what an attacker who is not in our PKI can make."""
    return make_dev_certs(tmp_path_factory.mktemp("rogue"), ["127.0.0.1", "localhost"])


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("correct-horse-battery-staple\n")
    path.chmod(0o600)
    return path
