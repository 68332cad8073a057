"""A FAKE of the few OCI Identity and Object Storage calls datamover.fleet makes.

Object Storage also answers what rclone's oracleobjectstorage backend needs to copy and list
(PutObject, ListObjects with ``fields`` including ``md5``, HeadObject, GetObject, and multipart
uploads: create, upload part, commit, abort, list), so a content check can be run against it:
a single-part object's ``md5`` is the base64 MD5 of its bytes, a multipart object's the
``opc-multipart-md5`` shape (base64 MD5 of the parts' MD5s, then ``-<parts>``), as OCI lists them.

Not OCI: a small local HTTP server, written from the public API reference (Identity 20160918:
dynamicGroups, policies; Object Storage: namespace, buckets, objects), that the real `oci` SDK
is pointed at through its service endpoint. It checks what the SDK really sends: every request
must carry a valid OCI HTTP signature (draft-cavage, rsa-sha256) made with the test key, and
bodies must match their x-content-sha256. Errors are answered the way OCI answers them
(JSON ``{"code", "message"}``, an ``opc-request-id``), so the SDK raises its real ServiceError.

``server.fail(method, path_regex, status, code)`` makes the next matching requests fail, e.g. a
403 on PUT of a probe object to stand for a missing policy.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

IDENTITY = "/20160918"
METADATA = "/opc/v2/"
FEDERATION = "/v1/x509"


class Raw(bytes):
    """A response body sent as it is (the metadata service answers text and PEM, not JSON)."""


class Md5Headers(bytes):
    """An empty body with the MD5 headers of an upload: opc-content-md5 of a part, or the
    opc-multipart-md5 of a committed multipart upload."""

    def __new__(cls, digest, multipart=None):
        self = super().__new__(cls, b"")
        self.headers = {}
        if digest is not None:
            self.headers["opc-content-md5"] = base64.b64encode(digest).decode()
        if multipart is not None:
            self.headers["opc-multipart-md5"] = multipart
            self.headers["etag"] = uuid.uuid4().hex
        return self
_ids = itertools.count(1)


def new_api_key(directory, tenancy="ocid1.tenancy.oc1..faketenancy",
                user="ocid1.user.oc1..fakeuser", region="eu-frankfurt-1"):
    """An RSA key and an OCI config file using it (mode 0600): what an administrator has."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    fingerprint = ":".join("%02x" % b for b in hashlib.md5(der).digest())  # noqa: S324 (OCI's format)
    key_path = directory / "api_key.pem"
    key_path.write_bytes(pem)
    key_path.chmod(0o600)
    config = directory / "config"
    config.write_text("[DEFAULT]\nuser=%s\nfingerprint=%s\ntenancy=%s\nregion=%s\nkey_file=%s\n"
                      % (user, fingerprint, tenancy, region, key_path))
    config.chmod(0o600)
    return {"config": str(config), "key_id": "%s/%s/%s" % (tenancy, user, fingerprint),
            "public_key": key.public_key(), "tenancy": tenancy, "region": region}


class FakeOci:
    """State: dynamic groups, policies, buckets and objects of one tenancy and namespace."""

    def __init__(self, key_id, public_key, namespace="fakens"):
        self.keys = {key_id: public_key}  # keyId -> public key the signature must verify with
        self.namespace = namespace
        self.instance = None  # a FakeInstanceIdentity once instance principals are served
        self.dynamic_groups = {}
        self.policies = {}
        self.buckets = {}  # name -> bucket dict; objects under "objects"
        self.md5s = {}  # (bucket, object name) -> the md5 the listing gives
        self.uploads = {}  # upload id -> {"bucket", "object", "parts": {num: bytes}, "time"}
        self.requests = []  # (method, path) of every request, in order
        self._faults = []
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    # -- control ----------------------------------------------------------------------
    def start(self):
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self._httpd.server_address[1]

    def fail(self, method, path_regex, status, code, message="", times=1000):
        self._faults.append([method, re.compile(path_regex), status, code,
                             message or "fake OCI: injected %s" % code, times])

    def add_bucket(self, name, compartment_id):
        self.buckets[name] = {"namespace": self.namespace, "name": name,
                              "compartmentId": compartment_id, "etag": uuid.uuid4().hex,
                              "createdBy": "ocid1.user.oc1..fakeuser",
                              "timeCreated": "2026-11-25T00:00:00.000Z",
                              "publicAccessType": "NoPublicAccess",
                              "storageTier": "Standard", "objects": {}}

    def calls(self, method=None):
        return [r for r in self.requests if method is None or r[0] == method]

    # -- request handling -------------------------------------------------------------
    def _injected(self, method, path):
        for fault in self._faults:
            if fault[0] == method and fault[1].search(path) and fault[5] > 0:
                fault[5] -= 1
                return fault[2], fault[3], fault[4]
        return None

    def handle(self, method, path, query, body):
        with self._lock:
            self.requests.append((method, path))
            fault = self._injected(method, path)
            if fault:
                return fault[0], {"code": fault[1], "message": fault[2]}
            return self._route(method, path, query, body)

    def _route(self, method, path, query, body):
        q = {k: v[0] for k, v in query.items()}
        if path == FEDERATION and method == "POST" and self.instance is not None:
            token, session_key = self.instance.token(body)
            self.keys["ST$" + token] = session_key
            return 200, {"token": token}
        for prefix, store, make, update in (
                (IDENTITY + "/dynamicGroups", self.dynamic_groups, _new_dynamic_group,
                 ("description", "matchingRule")),
                (IDENTITY + "/policies", self.policies, _new_policy, ("description", "statements"))):
            if path == prefix and method == "GET":
                found = [v for v in store.values() if v["compartmentId"] == q.get("compartmentId")
                         and ("name" not in q or v["name"] == q["name"])]
                return 200, found
            if path == prefix and method == "POST":
                if any(v["name"] == body["name"] for v in store.values()):
                    return 409, {"code": "EntityAlreadyExists", "message": "%s exists" % body["name"]}
                item = make(body)
                store[item["id"]] = item
                return 200, item
            match = re.fullmatch(re.escape(prefix) + r"/([^/]+)", path)
            if match:
                item = store.get(match.group(1))
                if item is None:
                    return 404, {"code": "NotAuthorizedOrNotFound", "message": "not found"}
                if method == "GET":
                    return 200, item
                if method == "PUT":
                    item.update({k: body[k] for k in update if k in body})
                    return 200, item
                if method == "DELETE":
                    del store[match.group(1)]
                    return 204, None
        return self._object_storage(method, path, q, body)

    def _object_storage(self, method, path, q, body):
        if path in ("/n", "/n/") and method == "GET":
            return 200, self.namespace
        match = re.fullmatch(r"/n/([^/]+)/b(?:/([^/]+)(?:/(o|u)(?:/(.+))?)?)?/?", path)
        if not match:
            return 404, {"code": "NotFound", "message": "fake OCI has no route %s %s" % (method, path)}
        namespace, bucket, kind, obj = (match.group(1), unquote(match.group(2) or ""),
                                        match.group(3), match.group(4))
        if namespace != self.namespace:
            return 404, {"code": "NamespaceNotFound",
                         "message": "You do not have authorization to perform this request, or the requested resource could not be found."}
        if not bucket:
            if method == "GET":
                return 200, [_public(b) for b in self.buckets.values()
                             if b["compartmentId"] == q.get("compartmentId")]
            if method == "POST":
                if body["name"] in self.buckets:
                    return 409, {"code": "BucketAlreadyExists", "message": "exists"}
                self.add_bucket(body["name"], body["compartmentId"])
                return 200, _public(self.buckets[body["name"]])
        if bucket not in self.buckets:
            return 404, {"code": "BucketNotFound",
                         "message": "Either the bucket named '%s' does not exist in the namespace '%s' "
                                    "or you are not authorized to access it" % (bucket, namespace)}
        if kind == "o" and obj is None and method == "GET":
            return 200, self._list_objects(bucket, q)
        if kind == "u":
            return self._multipart(method, unquote(obj or ""), bucket, q, body)
        if obj is None and method in ("GET", "HEAD"):
            return 200, _public(self.buckets[bucket])
        objects = self.buckets[bucket]["objects"]
        name = unquote(obj or "")
        if method == "PUT":
            self.put_object(bucket, name, body)
            return 200, b""
        if method in ("GET", "HEAD") and name in objects:
            return 200, Raw(objects[name])
        if method == "DELETE":
            if objects.pop(name, None) is None:
                return 404, {"code": "ObjectNotFound", "message": "no object %s" % name}
            return 204, None
        if method in ("GET", "HEAD"):
            return 404, {"code": "ObjectNotFound", "message": "no object %s" % name}
        return 404, {"code": "NotFound", "message": "fake OCI has no route %s %s" % (method, path)}

    # -- objects as OCI lists them ----------------------------------------------------------
    def put_object(self, bucket, name, data, md5=None):
        self.buckets[bucket]["objects"][name] = bytes(data)
        self.md5s[(bucket, name)] = md5 or base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324

    def _list_objects(self, bucket, q):
        """ListObjects: names after ``start`` under ``prefix``, at most ``limit``, folded at
        ``delimiter``; ``md5`` and ``size`` only when ``fields`` asks for them (as OCI)."""
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter")
        fields = set((q.get("fields") or "name").split(","))
        limit, start = int(q.get("limit") or 1000), q.get("start") or ""
        objects, prefixes = [], set()
        names = sorted(n for n in self.buckets[bucket]["objects"] if n.startswith(prefix) and n >= start)
        for name in names:
            if delimiter and delimiter in name[len(prefix):]:
                prefixes.add(prefix + name[len(prefix):].split(delimiter, 1)[0] + delimiter)
                continue
            if len(objects) == limit:
                return {"objects": objects, "prefixes": sorted(prefixes), "nextStartWith": name}
            item = {"name": name}
            if "size" in fields:
                item["size"] = len(self.buckets[bucket]["objects"][name])
            if "md5" in fields:
                item["md5"] = self.md5s[(bucket, name)]
            for key in ("timeCreated", "timeModified"):
                if key in fields:
                    item[key] = "2026-12-03T00:00:00.000Z"
            if "etag" in fields:
                item["etag"] = uuid.uuid4().hex
            objects.append(item)
        return {"objects": objects, "prefixes": sorted(prefixes)}

    def _multipart(self, method, name, bucket, q, body):
        """CreateMultipartUpload, UploadPart, CommitMultipartUpload (its opc-multipart-md5),
        AbortMultipartUpload, ListMultipartUploads."""
        if method == "POST" and not name:
            upload_id = uuid.uuid4().hex
            self.uploads[upload_id] = {"bucket": bucket, "object": body["object"], "parts": {},
                                       "time": "2026-12-03T00:00:00.000Z"}
            return 200, {"namespace": self.namespace, "bucket": bucket, "object": body["object"],
                         "uploadId": upload_id, "timeCreated": "2026-12-03T00:00:00.000Z"}
        if method == "GET" and not name:
            return 200, [{"namespace": self.namespace, "bucket": u["bucket"], "object": u["object"],
                          "uploadId": k, "timeCreated": u["time"]} for k, u in self.uploads.items()
                         if u["bucket"] == bucket]
        upload = self.uploads.get(q.get("uploadId"))
        if upload is None:
            return 404, {"code": "NoSuchUpload", "message": "no upload %s" % q.get("uploadId")}
        if method == "PUT":
            upload["parts"][int(q["uploadPartNum"])] = bytes(body)
            return 200, Md5Headers(hashlib.md5(body).digest())  # noqa: S324
        if method == "DELETE":
            del self.uploads[q["uploadId"]]
            return 204, None
        if method == "GET":
            return 200, [{"partNumber": n, "etag": hashlib.md5(p).hexdigest(), "size": len(p),  # noqa: S324
                          "md5": base64.b64encode(hashlib.md5(p).digest()).decode()}  # noqa: S324
                         for n, p in sorted(upload["parts"].items())]
        nums = sorted(p["partNum"] for p in body["partsToCommit"])  # the object is in part order
        parts = [upload["parts"][n] for n in nums]
        digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).digest()  # noqa: S324
        md5 = "%s-%d" % (base64.b64encode(digest).decode(), len(parts))
        self.put_object(bucket, upload["object"], b"".join(parts), md5=md5)
        del self.uploads[q["uploadId"]]
        return 200, Md5Headers(None, multipart=md5)


def _new_dynamic_group(body):
    return {"id": "ocid1.dynamicgroup.oc1..fake%d" % next(_ids), "compartmentId": body["compartmentId"],
            "name": body["name"], "description": body.get("description", ""),
            "matchingRule": body["matchingRule"], "lifecycleState": "ACTIVE",
            "timeCreated": "2026-11-25T00:00:00.000Z"}


def _new_policy(body):
    return {"id": "ocid1.policy.oc1..fake%d" % next(_ids), "compartmentId": body["compartmentId"],
            "name": body["name"], "description": body.get("description", ""),
            "statements": list(body["statements"]), "lifecycleState": "ACTIVE",
            "timeCreated": "2026-11-25T00:00:00.000Z"}


def _public(bucket):
    return {k: v for k, v in bucket.items() if k != "objects"}


class _Handler(BaseHTTPRequestHandler):
    server_fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        fake = self.server_fake
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        if url.path.startswith(METADATA) and fake.instance is not None:
            status, payload = fake.instance.metadata(url.path, self.headers.get("authorization"))
            return self._answer(status, payload)
        problem = self._signature_problem(raw)
        if problem:
            status, payload = 401, {"code": "NotAuthenticated", "message": "fake OCI: " + problem}
        else:
            body = raw
            # objects and parts are bytes; every other body is JSON
            if raw and "/o/" not in url.path and not (self.command == "PUT" and "/u/" in url.path):
                body = json.loads(raw)
            try:
                status, payload = fake.handle(self.command, url.path, parse_qs(url.query), body)
            except Exception as exc:  # noqa: BLE001 - a bug in the fake: a 400 the SDK does not retry
                status, payload = 400, {"code": "FakeOciBug", "message": repr(exc)}
        self._answer(status, payload)

    def _signature_problem(self, raw):
        auth = self.headers.get("authorization") or ""
        params = dict(re.findall(r'(\w+)="([^"]*)"', auth))
        if not auth.startswith("Signature ") or params.get("algorithm") != "rsa-sha256":
            return "request is not signed"
        public_key = self.server_fake.keys.get(params.get("keyId"))
        if public_key is None:
            return "unknown keyId %s" % params.get("keyId")
        names = params["headers"].split(" ")
        required = ["date", "(request-target)"] + ([] if self.path == FEDERATION else ["host"])
        if self.command in ("POST", "PUT") and not self.path.startswith("/n/"):
            required += ["content-length", "content-type", "x-content-sha256"]
        if [n for n in required if n not in names]:
            return "signature does not cover %s" % required
        if "x-content-sha256" in names:
            digest = base64.b64encode(hashlib.sha256(raw).digest()).decode()
            if digest != self.headers.get("x-content-sha256"):
                return "body does not match x-content-sha256"
        lines = []
        for name in names:
            if name == "(request-target)":
                lines.append("(request-target): %s %s" % (self.command.lower(), self.path))
            else:
                lines.append("%s: %s" % (name, self.headers.get(name)))
        try:
            public_key.verify(base64.b64decode(params["signature"]),
                                               "\n".join(lines).encode(), padding.PKCS1v15(),
                                               hashes.SHA256())
        except Exception:  # noqa: BLE001 - any failure to verify is a bad signature
            return "signature does not verify"
        return None

    def _answer(self, status, payload):
        extra = getattr(payload, "headers", {})
        if isinstance(payload, (Raw, Md5Headers)):
            data = bytes(payload)
        else:
            data = b"" if payload is None or payload == b"" else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("opc-request-id", "fake-" + uuid.uuid4().hex[:12])
        if data:
            self.send_header("content-type", "application/json")
        if status == 200 and self.command in ("PUT", "GET", "HEAD"):
            self.send_header("etag", uuid.uuid4().hex)
            self.send_header("last-modified", "Thu, 03 Dec 2026 00:00:00 GMT")
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve


class FakeInstanceIdentity:
    """The instance metadata service (IMDS v2: region, leaf certificate and key, intermediate)
    and the auth service's X.509 federation, for ONE fake instance: what the SDK's
    InstancePrincipalsSecurityTokenSigner uses to get a session token. The leaf certificate
    carries the tenancy in its subject (OU=opc-tenant:...), as the SDK expects; the federation
    request must be signed with the leaf key; the token is a JWT (not signed: the SDK does not
    verify it) whose session key, sent by the SDK, signs every later request."""

    def __init__(self, tenancy, region="eu-frankfurt-1", instance="ocid1.instance.oc1..fakeinstance"):
        self.tenancy, self.region, self.instance = tenancy, region, instance
        self.tokens = 0
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake OCI intermediate")])
        self.intermediate = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                             .public_key(ca_key.public_key()).serial_number(1)
                             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                             .sign(ca_key, hashes.SHA256()))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, instance),
                             x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "opc-certtype:instance"),
                             x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "opc-tenant:" + tenancy)])
        self.leaf = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name)
                     .public_key(self.leaf_key.public_key()).serial_number(2)
                     .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                     .sign(ca_key, hashes.SHA256()))
        fingerprint = ":".join("%02X" % b for b in self.leaf.fingerprint(hashes.SHA1()))  # noqa: S303 (the SDK's)
        self.key_id = "%s/fed-x509/%s" % (tenancy, fingerprint)

    def metadata(self, path, authorization):
        if authorization != "Bearer Oracle":  # IMDS v2 refuses requests without it
            return 401, {"code": "NotAuthenticated", "message": "IMDS v2 needs Authorization: Bearer Oracle"}
        pem = serialization.Encoding.PEM
        answers = {
            "instance/region": self.region.encode(),
            "identity/cert.pem": self.leaf.public_bytes(pem),
            "identity/intermediate.pem": self.intermediate.public_bytes(pem),
            "identity/key.pem": self.leaf_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                                            serialization.NoEncryption()),
        }
        found = answers.get(path[len(METADATA):])
        return (200, Raw(found)) if found is not None else (404, {"code": "NotFound", "message": path})

    def token(self, body):
        """A session token for the session public key in a federation request."""
        leaf = base64.b64decode(body["certificate"])
        if leaf != self.leaf.public_bytes(serialization.Encoding.DER):
            raise ValueError("federation request for another certificate")
        session_key = serialization.load_der_public_key(base64.b64decode(body["publicKey"]))
        self.tokens += 1
        now = int(time.time())
        claims = {"sub": self.instance, "tenant": self.tenancy, "iat": now, "exp": now + 3600,
                  "jti": uuid.uuid4().hex}

        def part(obj):
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        return "%s.%s.%s" % (part({"alg": "RS256", "typ": "JWT"}), part(claims), part("fake")), session_key


class FakeOciAccount(object):
    """A fake OCI server and an API key + config file it accepts: ``module_params()`` are the
    auth options a module needs to talk to it with the real SDK."""

    def __init__(self, directory, namespace="fakens"):
        self.key = new_api_key(directory)
        self.server = FakeOci(self.key["key_id"], self.key["public_key"], namespace=namespace).start()
        self.tenancy = self.key["tenancy"]

    def serve_instance_principal(self):
        """Also act as this instance's metadata service and the auth service's federation."""
        identity = FakeInstanceIdentity(self.tenancy, region=self.key["region"])
        self.server.instance = identity
        self.server.keys[identity.key_id] = identity.leaf.public_key()
        return identity

    def module_params(self, **extra):
        params = {"auth_type": "config_file", "config_file": self.key["config"],
                  "endpoint": self.server.endpoint}
        params.update(extra)
        return params

    def stop(self):
        self.server.stop()
