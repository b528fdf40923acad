"""A real SMTP server on loopback for the email tests (aiosmtpd).

usage: smtp_server.py MODE PORT OUTDIR [CERT KEY]
MODE: plain | starttls (TLS required, AUTH user/pass required) | ssl (implicit TLS, AUTH)
Each message received is written to OUTDIR as JSON. Creates OUTDIR/READY when listening.
"""
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(outdir, "%d.json" % time.time_ns())
        with open(path + ".tmp", "w") as f:
            json.dump(
                {
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "data": envelope.content.decode("utf8", "replace"),
                    "authenticated": bool(session.authenticated),
                    # Implicit TLS: the listening socket itself is TLS-only.
                    "tls": session.ssl is not None or mode == "ssl",
                },
                f,
            )
        os.rename(path + ".tmp", path)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"user" and auth_data.password == b"s3cret-pass"
    # handled=False: aiosmtpd answers 535 itself on a failure.
    return AuthResult(success=ok, handled=False)


kwargs = {}
if mode in ("starttls", "ssl"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    kwargs.update(authenticator=authenticator, auth_required=True)
    if mode == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
    else:
        kwargs.update(ssl_context=ctx, auth_require_tls=False)
controller = Controller(Handler(), hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs)
controller.start()
open(os.path.join(outdir, "READY"), "w").close()
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
