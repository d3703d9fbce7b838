#!/usr/bin/env python3
"""An SMTP sink for tests: every accepted message becomes MAILDIR/<n>.eml plus MAILDIR/<n>.json.

    smtp_sink.py PORT MAILDIR [--auth USER:PASS] [--tls CERT KEY] [--reject-rcpt ADDR] [--reject-sender ADDR]
        [--fail-data-once]

The .eml holds the message bytes as received (after SMTP's dot-unstuffing); the .json holds the
envelope: mail_from, rcpt_tos, and whether the session used TLS and was authenticated. A message
is only stored once its DATA ended with the final dot; a refused or broken DATA stores nothing.

--auth          require AUTH PLAIN or LOGIN with these credentials before MAIL
--tls           offer STARTTLS with this certificate and require it before MAIL
--reject-rcpt   answer 550 to RCPT TO for this address (repeatable)
--reject-sender answer 550 to MAIL FROM for this address (repeatable)
--fail-data-once answer the first complete DATA with 451 and store nothing; accept later ones
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, maildir, reject, reject_senders, fail_data_once):
        self.maildir = maildir
        self.reject = {address.lower() for address in reject}
        self.reject_senders = {address.lower() for address in reject_senders}
        self.fail_data_once = fail_data_once
        self.count = len([name for name in os.listdir(maildir) if name.endswith(".eml")])

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.lower() in self.reject_senders:
            return f"550 5.7.1 <{address}>: sender rejected"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: recipient rejected"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_data_once:
            self.fail_data_once = False
            return "451 4.3.0 Temporary failure, try again later"
        self.count += 1
        number = self.count
        envelope_record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        # The .json first, then the .eml, each renamed into place: a visible .eml is complete and
        # always has its envelope.
        self.publish(f"{number}.json", json.dumps(envelope_record).encode())
        self.publish(f"{number}.eml", envelope.original_content)
        return f"250 2.0.0 OK stored as {number}"

    def publish(self, name, data):
        temporary = os.path.join(self.maildir, "." + name + ".tmp")
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, os.path.join(self.maildir, name))


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False makes aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


async def serve(arguments):
    os.makedirs(arguments.maildir, exist_ok=True)
    handler = Sink(arguments.maildir, arguments.reject_rcpt, arguments.reject_sender, arguments.fail_data_once)
    tls_context = None
    if arguments.tls:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(arguments.tls[0], arguments.tls[1])
    options = {"hostname": "smtp-sink.test", "tls_context": tls_context, "require_starttls": tls_context is not None}
    if arguments.auth:
        user, _, password = arguments.auth.partition(":")
        options.update(
            authenticator=authenticator(user, password),
            auth_required=True,
            auth_require_tls=tls_context is not None,
        )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, loop=loop, **options), "127.0.0.1", arguments.port)
    print(f"smtp_sink listening on 127.0.0.1:{arguments.port}, storing in {arguments.maildir}", flush=True)
    await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description="An SMTP sink for tests.")
    parser.add_argument("port", type=int)
    parser.add_argument("maildir")
    parser.add_argument("--auth", metavar="USER:PASS")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDR")
    parser.add_argument("--reject-sender", action="append", default=[], metavar="ADDR")
    parser.add_argument("--fail-data-once", action="store_true")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
