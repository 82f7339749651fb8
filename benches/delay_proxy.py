#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every byte by DELAY_MS in each direction: a server
"elsewhere", DELAY_MS * 2 of round trip away, for benchmarks on one machine (this kernel may
have no netem). Bytes keep their order; the proxy itself uses little CPU.

    python3 benches/delay_proxy.py TARGET_HOST:PORT DELAY_MS    # prints its port, then serves
"""
import asyncio
import sys


async def pipe(reader, writer, delay):
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

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(host, int(port))
        except OSError:
            client_w.close()
            return
        await asyncio.sleep(delay * 2)  # the TCP handshake's round trip
        await asyncio.gather(pipe(client_r, server_w, delay), pipe(server_r, client_w, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
