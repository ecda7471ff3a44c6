# An HTTP/1.1 server that closes every keep-alive connection idle for IDLE_MS (a server's own
# keep-alive timeout), answering tokens at /oauth/token and 200 {} elsewhere; /handled tells how many
# requests reached a handler.
import asyncio, json, os, sys
IDLE = float(os.environ.get("IDLE_MS", "20")) / 1000
handled = 0
TOKEN = json.dumps({"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}).encode()

class Conn(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf, self.timer = t, b"", None
        self.arm()
    def arm(self):
        if self.timer: self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(IDLE, self.t.close)
    def data_received(self, data):
        global handled
        if self.timer: self.timer.cancel(); self.timer = None
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length": n = int(v)
            if len(rest) < n: return
            self.buf = rest[n:]
            handled += 1
            line = head.split(b"\r\n")[0]
            body = TOKEN if b"/oauth/token" in line else (str(handled).encode() if b"/handled" in line else b"{}")
            self.t.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        self.arm()

async def main():
    srv = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", int(os.environ.get("PORT", "18080")))
    async with srv: await srv.serve_forever()
asyncio.run(main())
