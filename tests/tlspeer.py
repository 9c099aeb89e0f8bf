#!/usr/bin/env python3
"""tlspeer - a scriptable TLS client for tests (rawpeer's TLS sibling):
writes a byte per record, stalls mid-handshake, shrinks its socket buffers,
closes without close_notify, on command.  Line protocol (--proto line).

  tlspeer.py [OPTIONS] ADDRESS CMD...     connect, handshake, run CMDs in order

ADDRESS: HOST:PORT, [IPV6]:PORT or unix:PATH (a tls: prefix is ignored).
OPTIONS: -t SEC (each wait, default 10), --ca FILE, --cert FILE --key FILE,
  --servername NAME (SNI and the name checked; default HOST), --insecure,
  --tls12 / --tls13 (only that version), --alpn LIST, --rcvbuf N, --sndbuf N
  (before connecting: tiny buffers make every partial write show).
On a failed handshake it prints "handshake failed: REASON" and exits 1.

CMDs (TEXT takes C escapes \\n \\r \\t \\0 \\\\ \\xHH):
  w:TEXT     write TEXT (TLS records of at most 16 KiB)
  b:TEXT     write TEXT one byte per TLS record
  M:N:TEXT   N copies of TEXT in one write (one record when under 16 KiB)
  big:N      a line of N bytes 'a' (and its newline)
  r:N        read N lines, print "line: ESCAPED" each
  rbig:N     read one line, print "rbig ok" when it is N bytes 'a'
  xfer:N     write N pattern bytes while reading them back (an echo server);
             prints "xfer ok N" or where they differ
  info       print "version=V alpn=A peer=SUBJECT" (A, SUBJECT may be empty)
  close      close the socket without close_notify (else the end of the CMDs
             sends one)
  eof        read until the end: prints "eof" (close_notify, then FIN), "eof
             without close_notify", "reset", "timeout" or "alert: REASON"
  stall      (first CMD, instead of the handshake) send a ClientHello, read
             the server's flight, answer nothing; then as eof on the socket
  sleep:MS   pause                say:TEXT  print TEXT (a sync point)
"""
import select
import socket
import ssl
import sys
import time

TIMEOUT = 10.0


def unescape(text):
    return text.encode().decode('unicode_escape').encode('latin-1')


def escape(data):
    out = []
    for c in data:
        if c == 0x5c:
            out.append('\\\\')
        elif 0x20 <= c < 0x7f:
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return ''.join(out)


def say(text):
    print(text, flush=True)


def parse_addr(addr):
    if addr.startswith('tls:'):
        addr = addr[4:]
    if addr.startswith('unix:'):
        return socket.AF_UNIX, addr[5:], None
    host, _, port = addr.rpartition(':')
    if host.startswith('['):
        return socket.AF_INET6, (host[1:-1], int(port)), host[1:-1]
    return socket.AF_UNSPEC, (host, int(port)), host


def raw_connect(addr, opts):
    family, target, host = parse_addr(addr)
    if family == socket.AF_UNSPEC:
        family = socket.getaddrinfo(*target, type=socket.SOCK_STREAM)[0][0]
    s = socket.socket(family, socket.SOCK_STREAM)
    if opts.get('rcvbuf'):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts['rcvbuf'])
    if opts.get('sndbuf'):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, opts['sndbuf'])
    s.settimeout(TIMEOUT)
    s.connect(target)
    return s, host


def context(opts):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if opts.get('insecure'):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif opts.get('ca'):
        ctx.load_verify_locations(opts['ca'])
    else:
        ctx.load_default_certs()
    if opts.get('cert'):
        ctx.load_cert_chain(opts['cert'], opts.get('key'))
    if opts.get('version'):
        ctx.minimum_version = ctx.maximum_version = opts['version']
    if opts.get('alpn'):
        ctx.set_alpn_protocols(opts['alpn'].split(','))
    return ctx


def wait_end(s):
    """After a stall: what the server does with the connection."""
    try:
        while True:
            if not s.recv(65536):
                return 'eof'
    except socket.timeout:
        return 'timeout'
    except ConnectionResetError:
        return 'reset'


def read_line(s, pending):
    while b'\n' not in pending[0]:
        data = s.recv(65536)
        if not data:
            raise EOFError
        pending[0] += data
    line, _, pending[0] = pending[0].partition(b'\n')
    return line


def xfer(s, n):
    pattern = bytes((i * 7 + i // 251) & 0xff for i in range(65536))
    sent = got = 0
    received = bytearray()
    s.setblocking(False)
    deadline = time.monotonic() + TIMEOUT
    while got < n:
        want_w = [s] if sent < n else []
        select.select([s], want_w, [], 0.5)
        if time.monotonic() > deadline:
            return 'xfer timeout: sent %d got %d' % (sent, got)
        try:
            if sent < n:
                chunk = pattern[sent % 65536:][:n - sent]
                sent += s.send(chunk)
                deadline = time.monotonic() + TIMEOUT
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            pass
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    return 'xfer eof after %d' % got
                received += data
                got += len(data)
                deadline = time.monotonic() + TIMEOUT
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
    s.setblocking(True)
    s.settimeout(TIMEOUT)
    for i in range(0, n, 65536):
        if received[i:i + 65536] != pattern[:min(65536, n - i)]:
            return 'xfer differs after byte %d' % i
    return 'xfer ok %d' % n


def run(s, cmds):
    """Runs cmds; at the end, a peer that did not close sends close_notify,
    as a well-behaved client does."""
    pending = [b'']
    ended = False
    for cmd in cmds:
        name, _, arg = cmd.partition(':')
        if name == 'w':
            s.sendall(unescape(arg))
        elif name == 'b':
            for c in unescape(arg):
                s.sendall(bytes([c]))
        elif name == 'M':
            n, _, text = arg.partition(':')
            s.sendall(unescape(text) * int(n))
        elif name == 'big':
            s.sendall(b'a' * int(arg) + b'\n')
        elif name == 'r':
            for _ in range(int(arg)):
                say('line: ' + escape(read_line(s, pending)))
        elif name == 'rbig':
            line = read_line(s, pending)
            ok = line == b'a' * int(arg)
            say('rbig ok' if ok else 'rbig got %d bytes' % len(line))
        elif name == 'xfer':
            say(xfer(s, int(arg)))
        elif name == 'info':
            cert = s.getpeercert()
            subject = ','.join('%s=%s' % kv for rdn in reversed(cert.get('subject', ()))
                               for kv in rdn) if cert else ''
            say('version=%s alpn=%s peer=%s' % (s.version(), s.selected_alpn_protocol() or '',
                                                 subject.replace('commonName', 'CN')))
        elif name == 'close':
            s.close()  # Python's close never calls SSL_shutdown: no close_notify
            return
        elif name == 'eof':
            ended = True
            try:
                while True:
                    if not s.recv(65536):
                        say('eof')
                        break
            except ssl.SSLEOFError:
                say('eof without close_notify')
            except ssl.SSLError as e:
                say('alert: ' + (e.reason or str(e)).lower().replace('_', ' '))
            except socket.timeout:
                say('timeout')
            except ConnectionResetError:
                say('reset')
        elif name == 'sleep':
            time.sleep(int(arg) / 1000.0)
        elif name == 'say':
            say(arg)
        else:
            sys.exit('tlspeer: unknown command ' + cmd)
    if not ended:
        try:
            s.unwrap()
        except (ssl.SSLError, OSError):
            pass  # the server closed without its own close_notify


def main(argv):
    global TIMEOUT
    opts = {}
    i = 0
    flags = {'--insecure': ('insecure', True), '--tls12': ('version', ssl.TLSVersion.TLSv1_2),
             '--tls13': ('version', ssl.TLSVersion.TLSv1_3)}
    while i < len(argv) and argv[i].startswith('-'):
        if argv[i] in flags:
            key, val = flags[argv[i]]
            opts[key] = val
            i += 1
            continue
        key, val = argv[i].lstrip('-'), argv[i + 1]
        if key == 't':
            TIMEOUT = float(val)
        elif key in ('rcvbuf', 'sndbuf'):
            opts[key] = int(val)
        else:
            opts[key] = val
        i += 2
    addr, cmds = argv[i], argv[i + 1:]
    if cmds and cmds[0] == 'stall':
        s, host = raw_connect(addr, opts)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = context(opts).wrap_bio(incoming, outgoing,
                                     server_hostname=opts.get('servername', host))
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        s.sendall(outgoing.read())
        say(wait_end(s))
        return 0
    s, host = raw_connect(addr, opts)
    try:
        s = context(opts).wrap_socket(s, server_hostname=opts.get('servername', host))
    except ssl.SSLCertVerificationError as e:
        say('handshake failed: ' + e.verify_message)
        return 1
    except (ssl.SSLError, OSError) as e:
        say('handshake failed: ' + (getattr(e, 'reason', None) or str(e)))
        return 1
    run(s, cmds)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
