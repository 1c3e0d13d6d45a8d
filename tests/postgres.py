"""A throwaway PostgreSQL server for tests and benchmarks, on 127.0.0.1.

``PostgresServer.start`` runs Debian's ``initdb`` and ``pg_ctl`` on a data
folder in a temp dir, with trust authentication on 127.0.0.1 only and a free
port. When the caller is root the server runs as the ``postgres`` user,
because PostgreSQL refuses to run as root. ``create_database`` makes a fresh,
uniquely named database from a template that already contains a plane's schema,
which is much faster than running the migrations for every test.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

logger = logging.getLogger(__name__)

# Many tests each open a pool to their own database before the server is
# stopped, so the default of 100 connections is too low.
MAX_CONNECTIONS = 500


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server programs, newest version first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if not found:
        raise RuntimeError(
            "PostgreSQL server programs not found under /usr/lib/postgresql; "
            "install Debian's postgresql package (apt-get install -y postgresql)."
        )
    return Path(found[0]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    folder: Path
    port: int
    templates: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls) -> PostgresServer:
        folder = Path(tempfile.mkdtemp(prefix="concord-postgres-"))
        server = cls(folder=folder, port=free_port())
        if os.geteuid() == 0:
            shutil.chown(folder, user="postgres")
        bin_dir = postgres_bin()
        server._run(
            [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust",
             "-U", "postgres", "--no-sync"]
        )
        options = (
            f"-h 127.0.0.1 -p {server.port} -k {folder} -F "
            f"-c max_connections={MAX_CONNECTIONS} -c shared_buffers=128MB"
        )
        server._run(
            [str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-o", options,
             "-l", str(folder / "server.log"), "-w", "-t", "60", "start"]
        )
        logger.info("PostgreSQL started on 127.0.0.1:%d", server.port)
        return server

    def _run(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        completed = subprocess.run(argv, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({completed.returncode}): "
                f"{completed.stdout}{completed.stderr}"
            )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
            autocommit=True,
        )

    def create_database(
        self, template: str | None = None, prepare: Callable[[str], None] | None = None
    ) -> str:
        """Create an empty database, or a copy of ``template`` built once by ``prepare``."""
        if template is not None and template not in self.templates:
            name = f"template_{template}"
            with self._admin() as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            if prepare is not None:
                prepare(self.url(name))
            self.templates[template] = name
        name = f"test_{uuid.uuid4().hex[:16]}"
        with self._admin() as admin:
            if template is None:
                admin.execute(f'CREATE DATABASE "{name}"')
            else:
                admin.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE "{self.templates[template]}"'
                )
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        self._run(
            [str(postgres_bin() / "pg_ctl"), "-D", str(self.folder / "data"),
             "-m", "immediate", "-w", "stop"]
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def database_bytes(url: str) -> bytes:
    """Everything a database stores, as bytes, for tests that search it for text.

    For SQLite: the file and its write-ahead log, where recent writes live. For
    PostgreSQL: every row of every table in the public schema, as JSON.
    """
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        files = sorted(path.parent.glob(f"{path.name}*"))
        assert files, f"no database file at {path}"
        return b"".join(file.read_bytes() for file in files)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        chunks = []
        for table in tables:
            for (row,) in connection.execute(f'SELECT row_to_json(t)::text FROM "{table}" t'):
                chunks.append(row.encode())
    return b"\n".join(chunks)
