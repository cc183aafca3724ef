"""A real Ray cluster on loopback for the distributed tests: a head (no CPUs, so no worker lands there)
and two worker nodes of 2 CPUs each, started once per session (~15 s on the 2-core machine)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

NODE = {"num_cpus": 2, "object_store_memory": 80 * 2**20}
"""Each worker node: 2 CPUs (room for one more worker when the other node dies), an 80 MB object store."""


class LoopbackCluster:
    """`ray.cluster_utils.Cluster` with its address, and a way to put a removed node back."""

    def __init__(self) -> None:
        import ray
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "object_store_memory": 80 * 2**20, "include_dashboard": False})
        for _ in range(2):
            self.cluster.add_node(**NODE)
        ray.init(address=self.cluster.address, log_to_driver=False)
        self.cluster.wait_for_nodes()
        self.address: str = self.cluster.address

    def worker_nodes(self) -> list[Any]:
        return sorted(self.cluster.worker_nodes, key=lambda n: n.unique_id)

    def restore(self) -> None:
        """Add worker nodes until there are two again."""
        while len(self.cluster.worker_nodes) < 2:
            self.cluster.add_node(**NODE)
        self.cluster.wait_for_nodes()

    def shutdown(self) -> None:
        import ray

        ray.shutdown()
        self.cluster.shutdown()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LoopbackCluster]:
    pytest.importorskip("ray", reason="the distributed extra is not installed (pip install 'agent-gym[distributed]')")
    cluster = LoopbackCluster()
    try:
        yield cluster
    finally:
        cluster.shutdown()
