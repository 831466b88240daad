"""The deployment files: Dockerfile lint and the Kubernetes example's probes and ports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_kubernetes_example_parses_and_probes_the_app() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 8000
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": 8000}
    assert kinds["Service"]["spec"]["ports"][0]["targetPort"] == 8000
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == "diffapi"


def test_healthz_is_the_probed_route() -> None:
    from app.main import app

    paths = set(app.openapi()["paths"])
    assert "/healthz" in paths


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("FROM python:3.11-slim")
    assert "\nUSER 10001\n" in text
    assert 'HEALTHCHECK' in text and "/healthz" in text
    assert "EXPOSE 8000" in text
