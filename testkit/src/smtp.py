"""testkit's throwaway SMTP server (see smtp.rs).

Usage: smtp.py MESSAGES_DIR PORT_FILE [CERT_PEM KEY_PEM]

Listens on a port of 127.0.0.1 the kernel picks and writes its number to
PORT_FILE once it accepts connections. Stores message n as MESSAGES_DIR/<n>.json
(zero-padded: names sort in arrival order) with the envelope sender, the
recipients and the raw data; each file appears whole (written aside, then
renamed). With a certificate and key it offers STARTTLS and refuses mail
before it.
"""

import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP


def write_whole(path, text):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, path)


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        # One event loop, no await before the write: numbers are never shared.
        self.count += 1
        raw = envelope.original_content or b""
        message = {
            # aiosmtpd keeps the null sender (bounces) as "<>".
            "from": "" if envelope.mail_from == "<>" else envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "data": raw.decode("utf-8", errors="replace"),
        }
        write_whole(os.path.join(self.directory, f"{self.count:06}.json"), json.dumps(message))
        return "250 OK stored"


async def serve(directory, port_file, tls):
    handler = Store(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        # A fixed hostname: the default (socket.getfqdn()) can wait on DNS.
        lambda: SMTP(
            handler,
            hostname="testkit.localhost",
            enable_SMTPUTF8=True,
            tls_context=tls,
            require_starttls=tls is not None,
        ),
        host="127.0.0.1",
        port=0,
    )
    write_whole(port_file, str(server.sockets[0].getsockname()[1]))
    await server.serve_forever()


def main():
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    tls = None
    if len(sys.argv) == 5:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(sys.argv[3], sys.argv[4])
    asyncio.run(serve(sys.argv[1], sys.argv[2], tls))


if __name__ == "__main__":
    main()
