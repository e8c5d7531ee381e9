#!/usr/bin/env python3
"""Minimal RFC 6455 echo server (Python 3 stdlib only) for self-testing run.sh.

Used ONLY by `scripts/autobahn/run.sh selftest` to check the Autobahn pipeline (install,
spec, wstest, report parsing) without the wsbench binary. It is not a wsbench target and not
a benchmark server. It speaks the same command-line contract as `wsbench serve`:

    selftest_echo_server.py --bind 127.0.0.1:0 --echo --max-message-bytes N

prints `listening on IP:PORT` as its first stdout line, serves WebSocket on any path,
echoes every text/binary message verbatim as one frame, answers pings, validates UTF-8
(per frame, so Autobahn grades the 6.4.3/6.4.4 fail-fast cases NON-STRICT), and fails the
connection with 1002/1007/1009 as RFC 6455 says. No extensions, no subprotocols.
"""

import argparse
import asyncio
import base64
import codecs
import hashlib
import signal
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Close codes a peer may send (RFC 6455 §7.4.1 plus the registered 1012-1014 and the
# application/private range 3000-4999); anything else fails the connection with 1002.
VALID_CLOSE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
# How long to wait for the peer's EOF after we sent a close frame and shut our side down.
LINGER_S = 5.0


class Fail(Exception):
    """Fail the WebSocket connection with this close code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def unmask(mask, data):
    n = len(data)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


async def handshake(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    key = headers.get("sec-websocket-key", "")
    ok = (
        len(parts) == 3
        and parts[0] == "GET"
        and headers.get("upgrade", "").lower() == "websocket"
        and "upgrade" in headers.get("connection", "").lower()
        and headers.get("sec-websocket-version") == "13"
        and key
    )
    if not ok:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        return False
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    return True


async def read_frame(reader, max_bytes):
    b0, b1 = await reader.readexactly(2)
    fin, rsv, opcode = b0 & 0x80, b0 & 0x70, b0 & 0x0F
    masked, n = b1 & 0x80, b1 & 0x7F
    if rsv or not masked:
        raise Fail(1002)
    if opcode not in (0, 1, 2, 8, 9, 10):
        raise Fail(1002)
    if opcode >= 8 and (not fin or n > 125):
        raise Fail(1002)
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
        if n >> 63:
            raise Fail(1002)
    if n > max_bytes:
        raise Fail(1009)
    mask = await reader.readexactly(4)
    return bool(fin), opcode, unmask(mask, await reader.readexactly(n))


async def serve_frames(reader, writer, max_bytes):
    """Runs the frame loop; returns the close payload to send back."""
    msg_opcode = None  # opcode of the message being reassembled, None between messages
    parts = []
    size = 0
    decoder = None
    while True:
        fin, opcode, payload = await read_frame(reader, max_bytes)
        if opcode == 9:
            writer.write(frame(10, payload))
            await writer.drain()
            continue
        if opcode == 10:
            continue
        if opcode == 8:
            if len(payload) == 0:
                return b""
            if len(payload) == 1:
                raise Fail(1002)
            (code,) = struct.unpack("!H", payload[:2])
            if code not in VALID_CLOSE and not 3000 <= code <= 4999:
                raise Fail(1002)
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise Fail(1007)
            return payload[:2]
        if opcode == 0:
            if msg_opcode is None:
                raise Fail(1002)
        else:
            if msg_opcode is not None:
                raise Fail(1002)
            msg_opcode = opcode
            decoder = codecs.getincrementaldecoder("utf-8")() if opcode == 1 else None
        size += len(payload)
        if size > max_bytes:
            raise Fail(1009)
        if decoder is not None:
            try:
                decoder.decode(payload, final=fin)
            except UnicodeDecodeError:
                raise Fail(1007)
        parts.append(payload)
        if fin:
            writer.write(frame(msg_opcode, b"".join(parts)))
            await writer.drain()
            msg_opcode, parts, size, decoder = None, [], 0, None


async def close(reader, writer, payload):
    """Sends our close frame, half-closes, waits (bounded) for the peer's EOF, closes."""
    try:
        writer.write(frame(8, payload))
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

        async def drain_input():
            while await reader.read(65536):
                pass

        await asyncio.wait_for(drain_input(), LINGER_S)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def handle(reader, writer, max_bytes):
    try:
        if not await handshake(reader, writer):
            writer.close()
            return
        try:
            reply = await serve_frames(reader, writer, max_bytes)
        except Fail as f:
            reply = struct.pack("!H", f.code)
        await close(reader, writer, reply)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="127.0.0.1:0")
    ap.add_argument("--echo", action="store_true", help="accepted for parity; always echoes")
    ap.add_argument("--max-message-bytes", type=int, default=64 << 20)
    a = ap.parse_args()
    host, _, port = a.bind.rpartition(":")
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, a.max_message_bytes), host, int(port), limit=1 << 16
    )
    ip, p = server.sockets[0].getsockname()[:2]
    print(f"listening on {ip}:{p}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
