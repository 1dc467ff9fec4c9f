"""Apache Kafka, single-node KRaft, from its Maven Central jars on the machine's Java 17."""

from __future__ import annotations

import asyncio
import base64
import shutil
import uuid

from cluster.local.installs import kafka_libs
from cluster.local.procs import BringUpError, log, port_open, run, spawn
from cluster.local.service import LocalService
from cluster.settings import Settings

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
"""


class KafkaBroker(LocalService):
    name = "kafka"
    start_timeout_s = 120.0

    def healthy(self) -> bool:
        if not port_open("127.0.0.1", self.settings.kafka_port):
            return False
        try:
            asyncio.run(asyncio.wait_for(_metadata_ok(self.settings), timeout=10))
        except Exception:  # noqa: BLE001 -- any failure to answer means "not healthy yet"
            return False
        return True

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise BringUpError("Java 17+ is needed to run the Kafka broker")
        return java

    def _launch(self) -> None:
        libs = kafka_libs()
        data = self.home / "data"
        props = self.home / "server.properties"
        s = self.settings
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={data}",
                    f"num.partitions={s.kafka_partitions}",
                    # One node: every internal topic has one replica.
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    # Threads for a one-node broker with one producer and one consumer
                    # (defaults: 3 network, 8 I/O, 10 background), on few cores.
                    "num.network.threads=1",
                    "num.io.threads=2",
                    "background.threads=2",
                    # Topics are created on purpose with the partitions the design needs.
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        log4j = self.home / "log4j2.properties"
        log4j.write_text(LOG4J2.format(log=self.home / "server.log"))
        classpath = f"{libs}/*"
        jvm = [
            self._java(),
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            # The JIT's first tier only: C2 compiling the broker's hot code took as much
            # CPU as serving requests for the first minutes (docs/design.md, issue 16),
            # and this broker's steady load is light.
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.home}",
            "-cp",
            classpath,
        ]
        if not (data / "meta.properties").exists():
            log("formatting Kafka storage")
            # "--cluster-id=" keeps an id that starts with "-" from reading as an option
            # (one in 64 ids do; that once failed CI at "kafka-storage format").
            run(
                [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={new_cluster_id()}",
                    "-c",
                    str(props),
                ]
            )
        spawn([*jvm, "kafka.Kafka", str(props)], pid_file=self.pid_file, log_file=self.log_file)

    def _after_start(self) -> None:
        asyncio.run(ensure_topics(self.settings))


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 bytes, URL-safe base64, no padding.

    Like Kafka's own Uuid.randomUuid, it never starts with "-", which its
    command-line tools would take for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


async def _metadata_ok(settings: Settings) -> None:
    from cluster.clients import kafka_admin

    admin = kafka_admin(settings)
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()


def topic_specs(settings: Settings) -> dict[str, dict[str, str]]:
    """Topic -> config. Partitions come from the settings; keys are order ids."""
    return {
        settings.kafka_orders_topic: {
            "min.insync.replicas": "1",
            "retention.ms": str(7 * 24 * 3600 * 1000),
        }
    }


async def ensure_topics(settings: Settings) -> None:
    from aiokafka.admin import NewTopic

    from cluster.clients import kafka_admin

    admin = kafka_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.kafka_partitions,
                replication_factor=1,
                topic_configs=config,
            )
            for name, config in topic_specs(settings).items()
            if name not in existing
        ]
        if wanted:
            await admin.create_topics(wanted)
            log(f"created Kafka topics: {', '.join(t.name for t in wanted)}")
    finally:
        await admin.close()
