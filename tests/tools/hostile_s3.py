#!/usr/bin/env python3
"""A hostile S3 server for the cloud tier's tests (tests/storage/test_st_cloud.c).

Usage: hostile_s3.py [--port N]    prints "PORT <n>" on its first line, then serves
until killed. No SigV4 check: any credentials are accepted.

The bucket names the misbehaviour, so one server serves every mode:
  s3://<mode>@127.0.0.1:<port>

Every mode answers the check of `cloud set` and of a scan (a listing with
max-keys=1) normally, with an empty page, and PUT with the ETag a real server
gives (the MD5 of the body); then it misbehaves on real listings (max-keys=1000)
and object GETs:

  ok             listings: two pages of keys (k0000.. k1499), then done
  repeat-token   every page is truncated and gives the same token
  cycle-token    tokens go A, B, A, B, ...
  endless-pages  every page is truncated with a fresh token and no keys
  endless-keys   every page is truncated with a fresh token and 1000 keys
  crawl          every page is truncated with a fresh token and 10 keys, 0.2 s each
  no-token       a truncated page without a continuation token
  huge-body      a 200 whose body says 1 GiB and streams <Contents> forever
  chunked        a 200 streamed chunked, forever
  slow           the whole answer (status line included) one byte a second
  garbage        a 200 whose body is not XML
  truncated      a 200 whose body is well-formed XML cut in the middle
  500            HTTP 500 InternalError, forever
  503            HTTP 503 SlowDown, forever
  huge-error     HTTP 500 with a 1 GiB error body
  drop           closes the connection without an answer
Object GETs in huge-body / chunked send more than the Range asked for,
endlessly; in slow a byte a second; in 500/503 errors; otherwise a 206 of
zeros of the length asked for.

GET /__count/<mode> answers the number of real listings (max-keys other than
1) that mode has served, so a test can check a listing stopped at once.
"""
import argparse
import hashlib
import http.server
import socketserver
import sys
import threading
import time
import urllib.parse

counts = {}
lock = threading.Lock()

PAGE = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        '<Name>{bucket}</Name><Prefix>{prefix}</Prefix><KeyCount>{n}</KeyCount>'
        '<MaxKeys>1000</MaxKeys><IsTruncated>{trunc}</IsTruncated>{token}{contents}'
        '</ListBucketResult>')
ENTRY = ('<Contents><Key>{key}</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>'
         '<ETag>&quot;0&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>')


def page(bucket, prefix, keys, token=None, truncated=False):
    return PAGE.format(bucket=bucket, prefix=prefix, n=len(keys), trunc='true' if truncated else 'false',
                       token='<NextContinuationToken>%s</NextContinuationToken>' % token if token else '',
                       contents=''.join(ENTRY.format(key=prefix + k) for k in keys)).encode()


def error_doc(code):
    return ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>hostile</Message>'
            '</Error>' % code).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True  # (else headers and body wait on delayed ACKs: 40 ms a request)

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype='application/xml', headers=()):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def parse(self):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.lstrip('/').split('/', 1)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        return parts[0], (parts[1] if len(parts) > 1 else ''), q

    def stream_forever(self, status, chunk, length=None, chunked=False):
        self.send_response(status)
        self.send_header('Content-Type', 'application/xml')
        if chunked:
            self.send_header('Transfer-Encoding', 'chunked')
        else:
            self.send_header('Content-Length', str(length))
        self.end_headers()
        try:
            if chunked:
                while True:
                    self.wfile.write(b'%x\r\n%s\r\n' % (len(chunk), chunk))
            else:
                sent = 0
                while sent < length:
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def slow(self, body):
        raw = b'HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n' % len(body) + body
        try:
            for i in range(len(raw)):
                self.wfile.write(raw[i:i + 1])
                self.wfile.flush()
                time.sleep(1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def do_PUT(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n)
        self.send(200, b'', headers=[('ETag', '"%s"' % hashlib.md5(body).hexdigest())])

    def do_DELETE(self):
        self.send(204, b'')

    def do_HEAD(self):
        self.send(200, b'')

    def do_GET(self):
        mode, key, q = self.parse()
        if mode == '__count':
            with lock:
                self.send(200, str(counts.get(key, 0)).encode(), 'text/plain')
            return
        if not key and q.get('max-keys') == '1':  # the check: always a clean empty page
            self.send(200, page(mode, q.get('prefix', ''), []))
            return
        if not key:
            with lock:
                counts[mode] = counts.get(mode, 0) + 1
                n = counts[mode]
            self.listing(mode, q.get('prefix', ''), q.get('continuation-token'), n)
        else:
            self.object(mode, key)

    def common(self, mode, body):
        """The modes that misbehave the same way on listings and objects; True if handled."""
        if mode == '500':
            self.send(500, error_doc('InternalError'))
        elif mode == '503':
            self.send(503, error_doc('SlowDown'))
        elif mode == 'huge-error':
            self.stream_forever(500, error_doc('InternalError') + b' ' * 65536, length=1 << 30)
        elif mode == 'slow':
            self.slow(body)
        elif mode == 'drop':
            self.close_connection = True
        else:
            return False
        return True

    def listing(self, mode, prefix, token, n):
        if self.common(mode, page(mode, prefix, ['k0'])):
            return
        if mode == 'ok':
            if not token:
                self.send(200, page(mode, prefix, ['k%04d' % i for i in range(1000)], 'second', True))
            else:
                self.send(200, page(mode, prefix, ['k%04d' % i for i in range(1000, 1500)]))
        elif mode == 'repeat-token':
            self.send(200, page(mode, prefix, ['k%d' % n], 'same-token', True))
        elif mode == 'cycle-token':
            self.send(200, page(mode, prefix, ['k%d' % n], 'AB'[n % 2], True))
        elif mode == 'endless-pages':
            self.send(200, page(mode, prefix, [], 'fresh-%d' % n, True))
        elif mode == 'endless-keys':
            self.send(200, page(mode, prefix, ['p%d-%04d' % (n, i) for i in range(1000)], 'fresh-%d' % n, True))
        elif mode == 'crawl':
            time.sleep(0.2)
            self.send(200, page(mode, prefix, ['p%d-%02d' % (n, i) for i in range(10)], 'fresh-%d' % n, True))
        elif mode == 'no-token':
            self.send(200, page(mode, prefix, ['k0'], None, True))
        elif mode == 'huge-body':
            self.stream_forever(200, ENTRY.format(key=prefix + 'x').encode() * 64, length=1 << 30)
        elif mode == 'chunked':
            self.stream_forever(200, ENTRY.format(key=prefix + 'x').encode() * 64, chunked=True)
        elif mode == 'garbage':
            self.send(200, b'\x00\xffthis is not <xml at all' * 10)
        elif mode == 'truncated':
            self.send(200, page(mode, prefix, ['k%04d' % i for i in range(10)])[:700])
        else:
            self.send(404, error_doc('NoSuchBucket'))

    def object(self, mode, key):
        rng = self.headers.get('Range', 'bytes=0-0')[len('bytes='):].split('-')
        length = int(rng[1]) - int(rng[0]) + 1
        if self.common(mode, b'\0' * length):
            return
        if mode == 'huge-body':
            self.stream_forever(206, b'\0' * 65536, length=1 << 30)
        elif mode == 'chunked':
            self.stream_forever(206, b'\0' * 65536, chunked=True)
        else:
            self.send(206, b'\0' * length, 'application/octet-stream')


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, default=0)
    args = ap.parse_args()
    srv = Server(('127.0.0.1', args.port), Handler)
    print('PORT %d' % srv.server_address[1], flush=True)
    sys.stdout.close()
    srv.serve_forever()


if __name__ == '__main__':
    main()
