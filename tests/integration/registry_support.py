"""A real Distribution registry (Debian's docker-registry) on 127.0.0.1 for the registry tests: plain
HTTP, htpasswd basic auth, TLS from a test CA, or bearer tokens from a small token server written
here (RS256 JWTs signed with openssl, the form the registry verifies). Seeding and read-back use
skopeo, a client we did not write."""
import base64
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

REGISTRY = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=True, timeout=60).stdout


def make_ca(directory, name):
    key, crt = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".crt")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + name)
    return key, crt


def make_cert(directory, ca_key, ca_crt, name="server", ext="subjectAltName=IP:127.0.0.1,DNS:localhost"):
    """A key and a certificate signed by the CA: a server's by default, a client's with
    ext="extendedKeyUsage=clientAuth"."""
    key, csr, crt = (os.path.join(directory, name + e) for e in (".key", ".csr", ".crt"))
    extfile = os.path.join(directory, name + ".cnf")
    with open(extfile, "w") as f:
        f.write(ext + "\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", extfile)
    return key, crt


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Docker's token protocol: GET /token?service=…&scope=… with basic credentials, answered
    with a JWT the registry trusts through `rootcertbundle`."""

    def __init__(self, directory, users):
        self.key, self.crt = make_ca(directory, "token-signer")
        der = openssl("x509", "-in", self.crt, "-pubkey", "-noout")
        der = openssl("pkey", "-pubin", "-outform", "DER", input=der)
        digest = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
        self.kid = ":".join(digest[i:i + 4] for i in range(0, len(digest), 4))
        self.users = users
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                header = self.headers.get("Authorization", "")
                user = None
                if header.startswith("Basic "):
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(name) != password:
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = name
                server.requests.append((user, query.get("scope", [])))
                access = []
                for scope in query.get("scope", []):
                    kind, name, actions = scope.split(":")
                    granted = actions.split(",") if user else [a for a in actions.split(",") if a == "pull" and name.startswith("public/")]
                    access.append({"type": kind, "name": name, "actions": granted})
                token = server.sign({"iss": "berth-test-issuer", "sub": user or "", "aud": query.get("service", [""])[0],
                                     "exp": int(time.time()) + 300, "nbf": int(time.time()) - 10, "iat": int(time.time()),
                                     "jti": os.urandom(8).hex(), "access": access})
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def sign(self, claims):
        head = b64url(json.dumps({"typ": "JWT", "alg": "RS256", "kid": self.kid}).encode())
        body = b64url(json.dumps(claims).encode())
        signature = openssl("dgst", "-sha256", "-sign", self.key, input=f"{head}.{body}".encode())
        return f"{head}.{body}.{b64url(signature)}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Registry:
    """One docker-registry process on 127.0.0.1 with its storage in a temp directory."""

    def __init__(self, auth=None, tls=False, users=None):
        self.dir = tempfile.mkdtemp(prefix="berth-registry-", dir="/var/tmp")
        self.storage = os.path.join(self.dir, "data")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.users = users or {"berth": "s3cret"}
        self.token = None
        self.ca = None
        self.auth = auth
        config = [
            "version: 0.1", "log:", "  level: info", "  accesslog:", "    disabled: true", "storage:", "  filesystem:",
            f"    rootdirectory: {self.storage}", "  delete:", "    enabled: true", "http:", f"  addr: 127.0.0.1:{self.port}",
        ]
        if tls:
            ca_key, ca_crt = make_ca(self.dir, "test-ca")
            key, crt = make_cert(self.dir, ca_key, ca_crt)
            os.makedirs(os.path.join(self.dir, "trust"))  # the CA alone: cert dirs treat a lone .key as an error
            self.ca = shutil.copy(ca_crt, os.path.join(self.dir, "trust", "ca.crt"))
            config += ["  tls:", f"    certificate: {crt}", f"    key: {key}"]
        if auth == "htpasswd":
            path = os.path.join(self.dir, "htpasswd")
            for i, (name, password) in enumerate(self.users.items()):
                subprocess.run(["htpasswd", "-Bbc" if i == 0 else "-Bb", path, name, password], check=True, capture_output=True, timeout=30)
            config += ["auth:", "  htpasswd:", "    realm: berth-test", f"    path: {path}"]
        elif auth == "token":
            self.token = TokenServer(self.dir, self.users)
            config += ["auth:", "  token:", f"    realm: {self.token.realm}", "    service: berth-test",
                       "    issuer: berth-test-issuer", f"    rootcertbundle: {self.token.crt}"]
        self.config = os.path.join(self.dir, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(config) + "\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([REGISTRY, "serve", self.config], stdout=open(os.path.join(self.dir, "log"), "a"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start: " + open(os.path.join(self.dir, "log")).read()[-2000:])

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        self.kill()
        if self.token:
            self.token.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def skopeo_creds(self, flag):
        return [flag, "berth:s3cret"] if self.auth else []

    def seed(self, archive, repo):
        """Copies a docker-archive tar into the registry as `repo` (layers gzip-compressed by skopeo)."""
        tls = ["--dest-cert-dir", os.path.dirname(self.ca)] if self.ca else ["--dest-tls-verify=false"]
        subprocess.run([SKOPEO, "copy", "-q", *tls, *self.skopeo_creds("--dest-creds"), "docker-archive:" + archive, f"docker://{self.host}/{repo}"],
                       check=True, capture_output=True, timeout=120)

    def inspect(self, repo):
        tls = ["--cert-dir", os.path.dirname(self.ca)] if self.ca else ["--tls-verify=false"]
        p = subprocess.run([SKOPEO, "inspect", *tls, *self.skopeo_creds("--creds"), "--raw", f"docker://{self.host}/{repo}"],
                           capture_output=True, timeout=60)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def blob_path(self, digest):
        hexd = digest.split(":")[1]
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", hexd[:2], hexd, "data")


class ThrottledProxy:
    """A TCP relay to the registry that caps throughput, so a test can kill the registry while a
    blob is in flight; a dead upstream closes the client connection, as a dying registry would."""

    def __init__(self, target_port, rate=8 << 20):
        self.target = target_port
        self.rate = rate
        self.port = free_port()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        self.closed = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self.pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, True), daemon=True).start()

    def pipe(self, source, sink, throttle):
        try:
            while True:
                data = source.recv(64 << 10)
                if not data:
                    break
                sink.sendall(data)
                if throttle:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def stop(self):
        self.closed = True
        self.listener.close()
