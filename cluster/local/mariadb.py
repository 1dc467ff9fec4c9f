"""MariaDB (serving as MySQL) from Debian's mariadb-server: own datadir, loopback only."""

from __future__ import annotations

import getpass

import pymysql

from cluster.local.installs import which
from cluster.local.procs import log, port_open, run, spawn
from cluster.local.service import LocalService


class MariaDB(LocalService):
    name = "mysql"
    start_timeout_s = 90.0

    @property
    def socket(self) -> str:
        return str(self.home / "mysqld.sock")

    def healthy(self) -> bool:
        if not port_open("127.0.0.1", self.settings.mysql_port):
            return False
        try:
            conn = pymysql.connect(unix_socket=self.socket, user="root", connect_timeout=1)
        except pymysql.MySQLError:
            return False
        conn.close()
        return True

    def _launch(self) -> None:
        data = self.home / "data"
        user = getpass.getuser()
        if not (data / "mysql").exists():
            log("initialising the MariaDB datadir")
            run(
                [
                    which("mariadb-install-db") or "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={data}",
                    f"--user={user}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ]
            )
        spawn(
            [
                which("mariadbd") or "mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.socket}",
                f"--port={self.settings.mysql_port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.home / 'mariadbd.pid'}",
                f"--user={user}",
                "--skip-name-resolve",
                "--max-connections=500",
                "--innodb-buffer-pool-size=256M",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--default-time-zone=+00:00",
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )

    def _after_start(self) -> None:
        addr = self.settings.mysql()
        conn = pymysql.connect(unix_socket=self.socket, user="root", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{addr.database}`")
                for host in ("127.0.0.1", "localhost"):
                    cur.execute(
                        "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                        (addr.user, host, addr.password),
                    )
                    # All databases: integration tests make scratch databases of their own.
                    cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s", (addr.user, host))
        finally:
            conn.close()
