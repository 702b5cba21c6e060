"""Test harness: real broker processes (Grete, Tansu), the raw ApiVersions probe, the Java client,
a real ZooKeeper server for cluster mode, a Grete cluster, and a TCP proxy to cut connections.

Used by tests/conftest.py and by bench/run.py; depends on no Kafka client library.
"""

from .cluster import GreteCluster
from .java import JavaProgram, compile_java, kafka_client_jars
from .process import BrokerProcess, BrokerStartError, ServerProcess, TansuProcess, tansu_binary
from .procstat import MachineCpu, ProcessUsage, read_machine_cpu, read_usage
from .tcp_proxy import CutMode, TcpProxy
from .wire import api_versions, free_port
from .zookeeper import ZooKeeperNotInstalled, ZooKeeperProcess, four_letter_word

__all__ = [
    "BrokerProcess",
    "BrokerStartError",
    "CutMode",
    "GreteCluster",
    "JavaProgram",
    "MachineCpu",
    "ProcessUsage",
    "ServerProcess",
    "TansuProcess",
    "TcpProxy",
    "ZooKeeperNotInstalled",
    "ZooKeeperProcess",
    "api_versions",
    "compile_java",
    "four_letter_word",
    "free_port",
    "kafka_client_jars",
    "read_machine_cpu",
    "read_usage",
    "tansu_binary",
]
