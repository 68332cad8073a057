"""A FAKE of the small part of the AWX REST API (/api/v2/) that the awx.awx modules call for
roles/awx_templates: list with filters, create, detail, patch, survey_spec, associations
(credentials of a job template), project updates.

Not AWX: it validates nothing that AWX validates (that a playbook exists in the project, that
an inventory is usable, ...). It stores what the modules send, answers in AWX's shapes
(``{"count", "next", "results"}``, ``url``, ``related``, secret inputs as ``$encrypted$``) and
requires the bearer token, so that the real awx.awx modules run unchanged against it and a
test can read exactly what would have been configured.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API = "/api/v2/"
TOKEN = "fake-awx-token"
SINGULAR = {"inventories": "inventory", "credential_types": "credential_type",
            "execution_environments": "execution_environment", "job_templates": "job_template",
            "projects": "project", "organizations": "organization", "credentials": "credential",
            "project_updates": "project_update", "labels": "label", "instance_groups": "instance_group"}
ASSOCIATIONS = ("credentials", "labels", "instance_groups", "notification_templates_started",
                "notification_templates_success", "notification_templates_error")


class FakeAwx:
    def __init__(self):
        self.store = {name: {} for name in SINGULAR}
        self.surveys = {}
        self.associations = {}
        self.writes = []  # (method, path) of every change
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None
        self.add("organizations", name="Default")

    def add(self, resource, **fields):
        oid = next(self._ids)
        url = "%s%s/%d/" % (API, resource, oid)
        obj = dict(fields, id=oid, type=SINGULAR[resource], url=url, summary_fields={},
                   related={"survey_spec": url + "survey_spec/", "update": url + "update/",
                            **{a: url + a + "/" for a in ASSOCIATIONS}})
        if resource == "projects":
            update = self.add("project_updates", name=fields.get("name"), status="successful",
                              scm_revision="0" * 40)
            obj["summary_fields"] = {"current_update": {"id": update["id"]}}
            obj["scm_revision"] = "0" * 40
        if resource == "credentials":
            obj["inputs"] = self._secret_inputs(obj)
        self.store[resource][oid] = obj
        return obj

    def _secret_inputs(self, credential):
        kind = self.store["credential_types"].get(credential.get("credential_type"), {})
        secret = set(f["id"] for f in (kind.get("inputs") or {}).get("fields", []) if f.get("secret"))
        return {k: ("$encrypted$" if k in secret else v) for k, v in (credential.get("inputs") or {}).items()}

    def find(self, resource, name):
        found = [o for o in self.store[resource].values() if o.get("name") == name]
        return found[0] if found else None

    def survey(self, template_name):
        return self.surveys.get(self.find("job_templates", template_name)["id"])

    def associated(self, template_name, what="credentials"):
        return sorted(self.associations.get((self.find("job_templates", template_name)["id"], what), set()))

    # -- server -----------------------------------------------------------------------
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
    def url(self):
        return "http://127.0.0.1:%d" % self._httpd.server_address[1]

    # -- routing ----------------------------------------------------------------------
    def handle(self, method, path, query, body):
        with self._lock:
            if method != "GET":
                self.writes.append((method, path))
            return self._route(method, path, query, body)

    def _route(self, method, path, query, body):
        match = re.fullmatch(re.escape(API) + r"([a-z_]+)/(?:(\d+)/(?:([a-z_]+)/)?)?", path)
        if not match or match.group(1) not in self.store:
            return 404, {"detail": "fake AWX has no %s %s" % (method, path)}
        resource, oid, sub = match.group(1), match.group(2), match.group(3)
        items = self.store[resource]
        if oid is None:
            if method == "GET":
                return 200, self._list(items.values(), query)
            if method == "POST":
                if resource in ("job_templates", "projects", "credential_types", "execution_environments") \
                        and any(o.get("name") == body.get("name") for o in items.values()):
                    return 400, {"__all__": ["%s with this name already exists." % SINGULAR[resource]]}
                return 201, self.add(resource, **body)
            return 405, {"detail": "method not allowed"}
        obj = items.get(int(oid))
        if obj is None:
            return 404, {"detail": "Not found."}
        if sub is None:
            if method == "GET":
                return 200, obj
            if method == "PATCH":
                obj.update(body)
                if resource == "credentials":
                    obj["inputs"] = self._secret_inputs(obj)
                return 200, obj
            if method == "DELETE":
                del items[int(oid)]
                return 204, None
        if sub == "survey_spec":
            if method == "GET":
                return 200, self.surveys.get(obj["id"], {})
            if method == "POST":
                self.surveys[obj["id"]] = body
                return 200, {}
            if method == "DELETE":
                self.surveys.pop(obj["id"], None)
                return 200, {}
        if sub in ASSOCIATIONS:
            linked = self.associations.setdefault((obj["id"], sub), set())
            if method == "GET":
                return 200, self._list([{"id": i} for i in sorted(linked)], {})
            if method == "POST":
                if body.get("disassociate"):
                    linked.discard(body["id"])
                else:
                    linked.add(body["id"])
                return 204, None
        return 404, {"detail": "fake AWX has no %s %s" % (method, path)}

    @staticmethod
    def _list(objects, query):
        found = []
        for obj in objects:
            ok = True
            if "or__id" in query or "or__name" in query:
                ok = str(obj.get("id")) == query.get("or__id") or obj.get("name") == query.get("or__name")
            for key, value in query.items():
                if key.startswith("or__") or key in ("page_size", "page", "order_by"):
                    continue
                ok = ok and str(obj.get(key)) == value
            if ok:
                found.append(obj)
        return {"count": len(found), "next": None, "previous": None, "results": found}


class _Handler(BaseHTTPRequestHandler):
    server_fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("authorization") != "Bearer " + TOKEN:
            status, payload = 401, {"detail": "Authentication credentials were not provided."}
        else:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                status, payload = self.server_fake.handle(self.command, url.path, query,
                                                          json.loads(raw) if raw else {})
            except Exception as exc:  # noqa: BLE001 - a bug in the fake, shown to the module
                status, payload = 400, {"detail": "fake AWX bug: %r" % exc}
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("X-API-Product-Name", "AWX")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve
