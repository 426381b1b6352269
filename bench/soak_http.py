"""The soak's HTTP side: the requests of many callers, 50 keep-alive clients, the API's start.

Raw asyncio streams (as bench/loadgen.py), each answer kept with its status, `X-Data-As-Of`
and a digest of its body, so mixed answers can be counted afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import jwt

HOST = "127.0.0.1"


@dataclass
class Sample:
    started: float
    seconds: float
    status: int
    request: int
    as_of: str
    digest: str


def requests_for(store: Path, secret: str) -> list[bytes]:
    """Raw HTTP requests of many callers: team (with and without engineer), me, flows."""
    con = duckdb.connect(str(store.resolve()), read_only=True)
    try:
        users = con.sql("SELECT user_id, account_id, is_team_admin FROM users WHERE is_active").fetchall()
        trees = con.sql("SELECT tree_id, account_id FROM trees ORDER BY tree_id").fetchall()
    finally:
        con.close()
    exp = datetime.now(UTC) + timedelta(hours=2)
    by_account: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for user_id, account_id, admin in users:
        by_account[account_id].append((user_id, admin))
    paths: list[tuple[str, str]] = []
    for account_id, members in sorted(by_account.items()):
        admins = [u for u, admin in members if admin]
        engineers = [u for u, admin in members if not admin][:8]
        for period in ("7d", "30d", "90d"):
            if admins:
                paths.append((admins[0], f"/analytics/team?period={period}"))
                paths += [(admins[0], f"/analytics/team?period={period}&engineer_id={e}") for e in engineers[:3]]
            paths += [(e, f"/analytics/me?period={period}") for e in engineers]
            account_trees = [t for t, a in trees if a == account_id][:8]
            if engineers:
                paths += [(engineers[0], f"/analytics/flows/{t}?period={period}") for t in account_trees]
    tokens = {u: jwt.encode({"sub": u, "exp": exp}, secret, algorithm="HS256") for u, _ in paths}
    return [
        (
            f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: keep-alive\r\n"
            f"Authorization: Bearer {tokens[user]}\r\n\r\n"
        ).encode()
        for user, path in paths
    ]


async def _call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, str, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status, length, as_of = int(head[9:12]), 0, ""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"x-data-as-of":
            as_of = value.strip().decode()
    return status, as_of, await reader.readexactly(length)


async def load(port: int, requests: list[bytes], clients: int, done: threading.Event, t0: float) -> list[Sample]:
    """`clients` keep-alive connections, each asking random requests back to back until `done`."""
    samples: list[Sample] = []

    async def client(seed_: int) -> None:
        pick = random.Random(seed_)
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while not done.is_set():
                index = pick.randrange(len(requests))
                started = time.perf_counter()
                status, as_of, body = await _call(reader, writer, requests[index])
                elapsed = time.perf_counter() - started
                digest = hashlib.blake2b(body, digest_size=12).hexdigest()
                samples.append(Sample(started - t0, elapsed, status, index, as_of, digest))
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return samples


def timed_load(port: int, requests: list[bytes], clients: int, seconds: float) -> list[Sample]:
    done = threading.Event()
    timer = threading.Timer(seconds, done.set)
    timer.start()
    return asyncio.run(load(port, requests, clients, done, time.perf_counter()))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_server(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/_ping", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"error: the API did not start on port {port} within 60 s") from None
            time.sleep(0.2)
