"""Who may reach the web UI: loopback without a login, anything wider only with one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from assistant.config import ConfigError, load_settings
from assistant.ui import check_exposure, is_loopback
from tests.conftest import REPO


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_need_no_login(host: str) -> None:
    assert is_loopback(host) and check_exposure(host, False, None) is None


@pytest.mark.parametrize(("host", "share"), [("0.0.0.0", False), ("192.0.2.7", False), ("my-laptop", False),
                                             ("127.0.0.1", True)])
def test_a_page_reachable_from_elsewhere_requires_a_login(host: str, share: bool) -> None:
    with pytest.raises(ConfigError, match="pass --auth user:password"):
        check_exposure(host, share, None)
    assert check_exposure(host, share, "ann:s3cret:with:colons") == ("ann", "s3cret:with:colons")


@pytest.mark.parametrize("auth", ["nopassword", ":pw", "user:"])
def test_a_malformed_login_is_refused(auth: str) -> None:
    with pytest.raises(ConfigError, match="expected user:password"):
        load_settings(overrides={"auth": auth}, environ={})


def test_serve_on_all_interfaces_without_a_login_stops_before_starting() -> None:
    result = subprocess.run([sys.executable, "-m", "assistant", "serve", "--host", "0.0.0.0"], cwd=REPO,
                            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                                              "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert "--host 0.0.0.0 makes the page reachable from other machines" in result.stderr
