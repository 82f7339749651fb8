#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every byte by DELAY_MS in each direction: a server
"elsewhere", DELAY_MS * 2 of round trip away, for benchmarks on one machine (this kernel may
have no netem). Bytes keep their order; the proxy itself uses little CPU.

    python3 benches/delay_proxy.py TARGET_HOST:PORT DELAY_MS [COUNT_FILE]

prints its port, then serves. With COUNT_FILE, each connection appends one line there when
it ends: its turns (client bursts that follow something from the server, the first one
included: the exchanges a client waited a round trip for, TLS handshake and requests) and
the bytes each way. TLS stays end to end, so this counts any client alike.
"""
import asyncio
import sys


class Count:
    """One connection's turns and bytes."""

    def __init__(self):
        self.turns = 0
        self.last = None
        self.up = 0
        self.down = 0

    def saw(self, way, n):
        if way == "up":
            self.up += n
            if self.last != "up":
                self.turns += 1
        else:
            self.down += n
        self.last = way


async def pipe(reader, writer, delay, count=None, way=None):
    queue = asyncio.Queue()

    async def send():
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    loop = asyncio.get_running_loop()
    try:
        while True:
            data = await reader.read(256 * 1024)
            if not data:
                break
            if count is not None:
                count.saw(way, len(data))
            await queue.put((loop.time() + delay, data))
    except ConnectionError:
        pass
    await queue.put((loop.time() + delay, None))
    try:
        await sender
    except ConnectionError:
        pass


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    delay = float(sys.argv[2]) / 1000.0
    count_file = sys.argv[3] if len(sys.argv) > 3 else None

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(host, int(port))
        except OSError:
            client_w.close()
            return
        await asyncio.sleep(delay * 2)  # the TCP handshake's round trip
        count = Count()
        await asyncio.gather(pipe(client_r, server_w, delay, count, "up"),
                             pipe(server_r, client_w, delay, count, "down"))
        if count_file:
            with open(count_file, "a") as f:
                f.write(f"turns {count.turns} up {count.up} down {count.down}\n")

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
