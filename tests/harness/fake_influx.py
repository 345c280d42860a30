#!/usr/bin/env python3
"""fake_influx.py PORT DIR — an InfluxDB 1.x /query endpoint that answers
wrongly on purpose, for tests/integration/test_influx_answers.sh.

Listens on 127.0.0.1:PORT and [::1]:PORT; each connection reads one request and answers by
the first segment of its path (the client's url is http://HOST:PORT/MODE):

  chunked   200, the chunked JSON answer of CHUNKED below in HTTP chunks of
            7 bytes (the data the test works out by hand)
  xerr      500 with X-Influxdb-Error and a JSON body saying something else
  jerr      400 with {"error": ...} and no header
  plain     503 with a two-line text body
  empty     502 with no body
  nonjson   200 with an HTML page
  miderr    200: one series, then InfluxDB's error result (a limit hit)
  trunc     200 with Content-Length: the first chunk only ("partial"),
            complete as HTTP
  hold      200 chunked: the first chunk, then DIR/held is created and the
            connection is held open (the test cuts it with the fault proxy)
  close     reads the request and closes without a byte
  badhdr    a status line, then a line that is not a header
  longhdr   2,000 headers, 110 KB
  longerr   500 with {"error": 600 characters} in a 10 KB body, sent in two
            parts (more than the client keeps of an error body)
  longline  503 with a text body whose first line is 600 characters
  host      the chunked answer when the Host header names the address and
            port the request came to ("[::1]:PORT" over IPv6), else 400
            {"error":"Host header '...'"}
  auth      the chunked answer when the Authorization header is Basic with
            base64 of DIR/creds (decoded here by Python's base64), else
            401 {"error":"authorization failed"}
Not a part of the product: a test tool.
"""
import base64
import os
import socket
import sys
import threading
import time

H = 1700002800
COLS = ('"columns":["time","mem_mib","disk_gib","cpu_seconds","io_read","io_write",'
        '"net_tx_bytes","net_rx_bytes"]')
TAGS = '"tags":{"account":"acme","cloudspace":"cs1","vm":"vm1"}'
# acme/cs1/vm1: a sample before the hour (the counters' start), then two
# inside it, split over two chunks (the series is "partial" in the first)
FIRST = ('{"results":[{"statement_id":0,"series":[{"name":"vm_usage",' + TAGS + ',' + COLS +
         ',"values":[[%d,10,1,100,1000,10,5000,7000],[%d,30,4,130,1500,12,5100,7400]],'
         '"partial":true}],"partial":true}]}\n') % (H - 60, H)
SECOND = ('{"results":[{"statement_id":0,"series":[{"name":"vm_usage",' + TAGS + ',' + COLS +
          ',"values":[[%d,50,2,20,1700,20,5200,7700]]}]}]}\n') % (H + 1800)
CHUNKED = FIRST + SECOND
MIDERR = FIRST.replace(',"partial":true}],"partial":true}', '}],"partial":true}') + \
    '{"results":[{"statement_id":0,"error":"max-select-point limit exceeded"}]}\n'


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


LONGERR = "E" * 300 + "F" * 300


def authorized(req, hold_dir):
    """The request's Basic credentials, decoded, equal DIR/creds."""
    with open(os.path.join(hold_dir, "creds"), "rb") as f:
        want = f.read()
    for line in req.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            kind, _, b64 = value.strip().partition(b" ")
            try:
                return kind == b"Basic" and base64.b64decode(b64, validate=True) == want
            except ValueError:
                return False
    return False


def answer(conn, mode, hold_dir, req=b""):
    head = "HTTP/1.1 %s\r\nContent-Type: %s\r\nConnection: close\r\n"
    if mode == "auth":
        mode = "chunked" if authorized(req, hold_dir) else "denied"
    if mode == "host":
        addr, port = conn.getsockname()[:2]
        want = ("[%s]:%d" if ":" in addr else "%s:%d") % (addr, port)
        got = [ln.partition(b":")[2].strip().decode() for ln in req.split(b"\r\n")[1:]
               if ln.partition(b":")[0].strip().lower() == b"host"]
        if got != [want]:
            b = ('{"error":"Host header %r, want %r"}' % (got, want)).encode()
            conn.sendall((head % ("400 Bad Request", "application/json") +
                          "Content-Length: %d\r\n\r\n" % len(b)).encode() + b)
            return
        mode = "chunked"
    if mode == "chunked":
        body = CHUNKED.encode()
        conn.sendall((head % ("200 OK", "application/json") + "Transfer-Encoding: chunked\r\n\r\n").encode())
        for i in range(0, len(body), 7):
            conn.sendall(chunk(body[i:i + 7]))
        conn.sendall(b"0\r\n\r\n")
    elif mode in ("xerr", "jerr", "plain", "empty", "nonjson", "trunc", "miderr", "denied", "longline"):
        status, ctype, body, extra = {
            "xerr": ("500 Internal Server Error", "application/json",
                     '{"error":"not this one"}', "X-Influxdb-Error: timeout: query took too long\r\n"),
            "jerr": ("400 Bad Request", "application/json",
                     '{"error":"error parsing query: found FORM, expected FROM"}', ""),
            "plain": ("503 Service Unavailable", "text/plain", "upstream overloaded\nsecond line\n", ""),
            "empty": ("502 Bad Gateway", "text/plain", "", ""),
            "nonjson": ("200 OK", "text/html", "<html>502 Bad Gateway</html>\n", ""),
            "trunc": ("200 OK", "application/json", FIRST, ""),
            "miderr": ("200 OK", "application/json", MIDERR, ""),
            "denied": ("401 Unauthorized", "application/json", '{"error":"authorization failed"}', ""),
            "longline": ("503 Service Unavailable", "text/plain", "y" * 600 + "\nsecond line\n", ""),
        }[mode]
        b = body.encode()
        conn.sendall((head % (status, ctype) + extra + "Content-Length: %d\r\n\r\n" % len(b)).encode() + b)
    elif mode == "longerr":
        b = ('{"error":"%s","pad":"%s"}' % (LONGERR, "p" * 10000)).encode()
        conn.sendall((head % ("500 Internal Server Error", "application/json") +
                      "Content-Length: %d\r\n\r\n" % len(b)).encode() + b[:5000])
        time.sleep(0.2)
        conn.sendall(b[5000:])
    elif mode == "hold":
        conn.sendall((head % ("200 OK", "application/json") + "Transfer-Encoding: chunked\r\n\r\n").encode())
        conn.sendall(chunk(FIRST.encode()))
        with open(os.path.join(hold_dir, "held.tmp"), "w"):
            pass
        os.rename(os.path.join(hold_dir, "held.tmp"), os.path.join(hold_dir, "held"))
        conn.settimeout(60)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
    elif mode == "close":
        pass
    elif mode == "badhdr":
        conn.sendall(b"HTTP/1.1 200 OK\r\nthis is not a header\r\n\r\n")
        time.sleep(0.2)
    elif mode == "longhdr":
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%05d: %s\r\n" % (i, b"a" * 40) for i in range(2000)) + b"\r\n")
        time.sleep(0.2)


def serve(conn, hold_dir):
    try:
        conn.settimeout(10)
        req = b""
        while b"\r\n\r\n" not in req:
            d = conn.recv(4096)
            if not d:
                return
            req += d
        path = req.split(b" ", 2)[1].decode()
        answer(conn, path.lstrip("/").split("/", 1)[0], hold_dir, req)
    except OSError:
        pass
    finally:
        conn.close()


def accept(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, sys.argv[2]), daemon=True).start()


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen(16)
    s6 = socket.socket(socket.AF_INET6)
    s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.bind(("::1", int(sys.argv[1])))
    s6.listen(16)
    threading.Thread(target=accept, args=(s6,), daemon=True).start()
    accept(s)


main()
