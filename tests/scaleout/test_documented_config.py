"""The nginx configuration docs/SCALEOUT.md gives operators is the one the scale-out tests
run: both are ``interop.cluster.LB_SITE`` rendered (the documentation with
``DOC_EXAMPLE``), and the running balancer's nginx.conf holds it for its nodes."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from interop.cluster import DOC_EXAMPLE, Cluster, render_lb_site

pytestmark = pytest.mark.scaleout

DOC = Path(__file__).resolve().parents[2] / "docs" / "SCALEOUT.md"


def test_the_documented_nginx_config_is_the_template_the_tests_render() -> None:
    blocks = re.findall(r"```nginx\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/SCALEOUT.md should show one nginx block"
    assert blocks[0] == textwrap.dedent(render_lb_site(**DOC_EXAMPLE))


def test_the_running_balancer_runs_that_template(cluster_up: Cluster) -> None:
    conf = (cluster_up.lb.root / "nginx.conf").read_text(encoding="utf-8")
    listen = cluster_up.url.removeprefix("https://").rstrip("/")
    nodes = [f"127.0.0.1:{node.port}" for node in cluster_up.nodes]
    key = str(cluster_up.lb.root.parent.parent / "lb-key.pem")
    cert = str(cluster_up.lb.root.parent.parent / "lb-cert.pem")
    assert render_lb_site(nodes, listen, "localhost", cert, key) in conf
