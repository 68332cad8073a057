"""k8s_client against the FAKE Kubernetes API server (tests/lab/fake_k8s.py): the kubernetes
Python client's real requests, answered by the fake (no real cluster can run here)."""
from __future__ import annotations

import pytest
from ansible_collections.datamover.fleet.plugins.module_utils.k8s import client as kc

from tests.lab.fake_k8s import FakeKubernetes, cleanup_workdir


@pytest.fixture
def api(tmp_path):
    fake = FakeKubernetes(workdir=str(tmp_path / "fake"), version="v1.30.4",
                          pvcs={"lustre": str(tmp_path)}).start()
    client = kc.api_client(fake.write_kubeconfig(str(tmp_path / "kubeconfig")))
    yield fake, client
    fake.stop()
    cleanup_workdir(fake)


def test_version_and_what_is_missing(api):
    fake, client = api
    assert kc.server_version(client) == "v1.30.4"
    assert kc.missing_objects(client, "datamover", ["lustre"], "default") == []
    problems = kc.missing_objects(client, "datamover", ["lustre", "nope"], "robot", ["ocir"])
    assert problems == [
        "PersistentVolumeClaim nope does not exist in namespace datamover",
        "service account robot does not exist in namespace datamover "
        "(datamover_kubernetes_service_account)",
        "image pull Secret ocir does not exist in namespace datamover"]
    assert kc.missing_objects(client, "other", ["lustre"]) == [
        "namespace other does not exist (datamover_kubernetes_namespace)"]


def test_read_and_delete(api):
    fake, client = api
    assert kc.read_job(client, "datamover", "dm-x") is None
    assert kc.list_pods(client, "datamover", "dm-x") == []
    code, _ = fake.handle("POST", "/api/v1/namespaces/datamover/secrets",
                          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dm-x-rclone"},
                           "data": {"rclone.conf": "eA=="}})
    assert code == 201
    assert kc.delete_run_objects(client, "datamover", "dm-x", "dm-x-rclone") == ["secret/dm-x-rclone"]
    assert fake.list("secrets") == []
    assert ("DELETE", "/apis/batch/v1/namespaces/datamover/jobs/dm-x") in fake.requests


def test_bad_credentials_and_no_server_are_one_clear_error(api, tmp_path):
    fake, _ = api
    fake.token = "changed"
    client = kc.api_client(str(tmp_path / "kubeconfig"))
    with pytest.raises(kc.K8sError, match="reading the server version: HTTP 401"):
        kc.server_version(client)
    with pytest.raises(kc.K8sError, match="cannot load the Kubernetes credentials"):
        kc.api_client(str(tmp_path / "missing-kubeconfig"))
