#!/usr/bin/env python3
"""A loopback emulator of the parts of Azure that amlspec's azureml target speaks to.

Serves, on 127.0.0.1 only:
  * ARM, api-version 2023-04-01: GET workspaces/{ws}, GET computes/{name}, GET/PUT codes/{name}/versions/{v},
    POST .../startPendingUpload, GET/PUT environments/{name}/versions/{v}, GET/PUT jobs/{id}, POST jobs/{id}/cancel;
  * the Microsoft identity platform token endpoint: POST /{tenant}/oauth2/v2.0/token (client credentials);
  * Azure Blob storage behind a SAS: Put Blob, Put Block, Put Block List, Get Blob Properties (HEAD), Get Blob,
    Get Block List.

It REJECTS what the published specification does not allow: wrong paths, api-version, missing or unknown bearer
tokens, a wrong Content-Type, bodies that break the definitions' required fields, types, formats, enums,
readOnly marks, additionalProperties and discriminators. The definitions come from spec/mfe-2023-04-01.json and
spec/blob-storage.json (facts transcribed from the specification; see their _about).

Jobs live in memory and move along on every GET: Queued, Starting, Running, Running, Completed (a command that
contains EMULATOR_FAIL ends Failed, EMULATOR_HANG stays Running); cancel makes CancelRequested, then Canceled.

Control endpoints (no auth), for tests:
  GET  /_emulator/stats            counters (requests, rejected, put_blob, put_block, uploads, ...)
  GET  /_emulator/log              every request: method, path (no query), status, operation, reason
  POST /_emulator/faults           [{"match": "regex on 'METHOD /path'", "after": N, "times": 1, "status": 429,
                                     "retry_after": 1, "code": "...", "message": "...", "details": [...]}]
                                   or, instead of a status, "delay": S (wait, then serve) or
                                   "delay_response": S (serve, then answer S seconds late)
  GET  /_emulator/jobs/{id}        the job as stored, with the body the client sent
Faults can also be given at start (--faults JSON). Start: emulator.py [--port 0] [--port-file F]; the port is
printed on stdout as soon as the socket listens.
"""
import argparse
import base64
import binascii
import email.utils
import hashlib
import http.server
import json
import os
import re
import secrets
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "spec", "mfe-2023-04-01.json")) as _f:
    SPEC = json.load(_f)
API_VERSION = SPEC["api_version"]
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DURATION_RE = re.compile(r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
                         r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$")
ARM_PREFIX = re.compile(r"^/subscriptions/([^/]*)/resourceGroups/([^/]*)/providers/"
                        r"Microsoft\.MachineLearningServices/workspaces/([^/]*)(/.*)?$", re.IGNORECASE)
STORAGE_ACCOUNT = "emustorage"
BLOB_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Reject(Exception):
    """A request the service refuses: HTTP status, error code, message, details."""

    def __init__(self, status, code, message, details=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}


# ---------------------------------------------------------------- the specification's definitions

class Validator:
    def __init__(self, spec):
        self.defs = spec["definitions"]
        self.enums = spec["enums"]

    def chain(self, name):
        """name and every definition it inherits from (allOf), depth first."""
        out, todo = [], [name]
        while todo:
            n = todo.pop(0)
            if n in out:
                continue
            out.append(n)
            todo.extend(self.defs[n].get("allOf", []))
        return out

    def merged(self, name):
        props, required, closed = {}, [], False
        for n in self.chain(name):
            d = self.defs[n]
            for k, v in d.get("properties", {}).items():
                props.setdefault(k, v)
            required += [r for r in d.get("required", []) if r not in required]
        closed = self.defs[name].get("additionalProperties") is False
        return props, required, closed

    def discriminator_of(self, name):
        for n in self.chain(name):
            if "discriminator" in self.defs[n]:
                return n, self.defs[n]["discriminator"]
        return None, None

    def subtype(self, base, value):
        for n, d in self.defs.items():
            if d.get("discriminatorValue") == value and base in self.chain(n):
                return n
        return None

    def check_object(self, value, name, path, errs):
        if not isinstance(value, dict):
            errs.append((path, "must be an object (%s)" % name))
            return
        base, prop = self.discriminator_of(name)
        concrete = name
        if base:
            dv = value.get(prop)
            if dv is None:
                errs.append((path + "." + prop, "is required (the discriminator of %s)" % base))
                return
            want = self.defs[name].get("discriminatorValue")
            if want is not None and dv != want:
                errs.append((path + "." + prop, "must be '%s' here (%s), not %r" % (want, name, dv)))
                return
            if want is None:
                concrete = self.subtype(base, dv)
                if concrete is None:
                    enum = self.defs[base]["properties"][prop].get("enum")
                    if enum and dv not in self.enums[enum]:
                        errs.append((path + "." + prop, "%r is not one of %s" % (dv, self.enums[enum])))
                    else:
                        errs.append((path + "." + prop, "%r: no definition for it in this emulator" % dv))
                    return
        props, required, closed = self.merged(concrete)
        for r in required:
            if r not in value:
                errs.append((path + "." + r, "is required (%s)" % concrete))
        for k, v in value.items():
            if k not in props:
                if closed:
                    errs.append((path + "." + k, "is not a property of %s" % concrete))
                continue
            self.check_value(v, props[k], path + "." + k, errs)

    def check_value(self, v, ps, path, errs):
        if ps.get("readOnly"):
            errs.append((path, "is read-only and must not be sent"))
            return
        if v is None:
            if not ps.get("nullable"):
                errs.append((path, "must not be null"))
            return
        if "ref" in ps:
            self.check_object(v, ps["ref"], path, errs)
            return
        if "enum" in ps:
            allowed = self.enums[ps["enum"]]
            if not isinstance(v, str) or v not in allowed:
                errs.append((path, "%r is not one of %s" % (v, allowed)))
            return
        t = ps.get("type")
        if t == "string":
            if not isinstance(v, str):
                errs.append((path, "must be a string"))
                return
            if len(v) < ps.get("minLength", 0):
                errs.append((path, "must have at least %d character(s)" % ps["minLength"]))
            if "maxLength" in ps and len(v) > ps["maxLength"]:
                errs.append((path, "must have at most %d characters" % ps["maxLength"]))
            if "pattern" in ps and not re.search(ps["pattern"], v):
                errs.append((path, "does not match %s" % ps["pattern"]))
            fmt = ps.get("format")
            if fmt == "uuid" and not UUID_RE.match(v):
                errs.append((path, "must be a UUID"))
            if fmt == "duration" and not DURATION_RE.match(v):
                errs.append((path, "must be an ISO 8601 duration such as PT2H, not %r" % v))
        elif t == "integer":
            if isinstance(v, bool) or not isinstance(v, int):
                errs.append((path, "must be an integer"))
            elif ps.get("format") == "int32" and not -2**31 <= v < 2**31:
                errs.append((path, "does not fit int32"))
        elif t == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                errs.append((path, "must be a number"))
        elif t == "boolean":
            if not isinstance(v, bool):
                errs.append((path, "must be a boolean"))
        elif t == "object":
            if not isinstance(v, dict):
                errs.append((path, "must be an object"))
            elif "values" in ps:
                for k, item in v.items():
                    self.check_value(item, ps["values"], "%s[%s]" % (path, k), errs)
        elif t == "array":
            if not isinstance(v, list):
                errs.append((path, "must be an array"))
            elif "items" in ps:
                for i, item in enumerate(v):
                    self.check_value(item, ps["items"], "%s[%d]" % (path, i), errs)

    def check_body(self, body, name):
        errs = []
        self.check_object(body, name, "body", errs)
        return errs


VALIDATOR = Validator(SPEC)


def check_param(name, value):
    p = SPEC["parameters"][name]
    if len(value) < p.get("minLength", 0) or ("maxLength" in p and len(value) > p["maxLength"]):
        return False
    if "pattern" in p and not re.search(p["pattern"], value):
        return False
    if p.get("format") == "uuid" and not UUID_RE.match(value):
        return False
    return True


# ---------------------------------------------------------------- state

class State:
    def __init__(self, args):
        self.lock = threading.RLock()
        self.args = args
        self.subscription = args.subscription
        self.resource_group = args.resource_group
        self.workspace = args.workspace
        self.computes = set(args.compute)
        self.tokens = set(args.token)
        self.clients = {}
        for c in args.client:
            tenant, cid, secret = c.split(":", 2)
            self.clients[(tenant, cid)] = secret
        self.codes, self.envs, self.jobs = {}, {}, {}
        self.pending = {}        # (name, version, pendingUploadId) -> blob folder path
        self.sas = {}            # sig -> (container, expiry)
        self.blobs = {}          # "container/path" -> {"data", "md5", "blocks": [(id, size)]}
        self.uncommitted = {}    # "container/path" -> {blockid: bytes}
        self.stats = {k: 0 for k in ("requests", "rejected", "not_found", "unauthorized", "arm", "put_blob", "put_block", "put_block_list",
                                     "head_blob", "get_blob", "get_block_list", "uploads", "upload_bytes",
                                     "code_versions_created", "environment_versions_created", "jobs_created",
                                     "jobs_canceled", "tokens_issued", "pending_uploads", "md5_mismatch_stored",
                                     "faults_injected")}
        self.log = []
        self.faults = []
        self.seq = 0
        if args.faults:
            self.set_faults(json.loads(args.faults))

    def ws_id(self):
        return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices/workspaces/%s"
                % (self.subscription, self.resource_group, self.workspace))

    def set_faults(self, rules):
        for r in rules:
            r.setdefault("after", 0)
            r.setdefault("times", 1)
            r["_seen"] = 0
        self.faults = rules

    def fault_for(self, method, path):
        """The fault to inject for this request, if any (counting matches)."""
        key = "%s %s" % (method, path)
        for r in self.faults:
            if "nth" in r and r["nth"] != self.seq:
                continue
            if "match" in r and not re.search(r["match"], key):
                continue
            r["_seen"] += 1
            if r["_seen"] <= r["after"] or r["times"] <= 0:
                continue
            r["times"] -= 1
            self.stats["faults_injected"] += 1
            return r
        return None


STATE = None


# ---------------------------------------------------------------- HTTP

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "amlspec-azureml-emulator/1"

    def log_message(self, fmt, *args):  # quiet: the request log is at /_emulator/log
        pass

    # -- plumbing
    def body_bytes(self):
        if hasattr(self, "_body"):
            return self._body
        te = self.headers.get("Transfer-Encoding")
        if te:
            raise Reject(411, "LengthRequired", "chunked transfer is not accepted; send Content-Length")
        n = self.headers.get("Content-Length")
        if n is None:
            self._body = b""
            if self.command in ("PUT", "POST"):
                raise Reject(411, "LengthRequired", "Content-Length is required")
        else:
            self._body = self.rfile.read(int(n))
        return self._body

    def send(self, status, body=b"", ctype="application/json", headers=None, head=False):
        if getattr(self, "_delay_response", 0):
            # answered later, outside the state lock (see dispatch)
            self._deferred = (status, body, ctype, headers, head)
            return
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            if k.lower() != "content-length":
                self.send_header(k, str(v))
        if ctype and (body or head):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)) if not head else (headers or {}).get("Content-Length", "0"))
        self.end_headers()
        if not head and self.command != "HEAD":
            self.wfile.write(body)

    def record(self, status, op, reason=""):
        path = urllib.parse.urlsplit(self.path).path
        with STATE.lock:
            STATE.log.append({"t": time.time(), "method": self.command, "path": path, "status": status,
                              "op": op, "reason": reason})
            # a 404 answers a lookup ("does this version exist?"); anything else 4xx is a refusal
            # (and 401 refuses credentials, not the shape of a request)
            if status == 404 and op != "fault":
                STATE.stats["not_found"] += 1
            elif status == 401 and op != "fault":
                STATE.stats["unauthorized"] += 1
            elif status >= 400 and op != "fault":
                STATE.stats["rejected"] += 1

    def arm_headers(self):
        h = {"x-ms-request-id": str(uuid.uuid4()),
             "x-ms-correlation-request-id": self.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())}
        if self.headers.get("x-ms-client-request-id"):
            h["x-ms-client-request-id"] = self.headers["x-ms-client-request-id"]
        return h

    def dispatch(self):
        if hasattr(self, "_body"):
            del self._body  # one handler serves every request of a kept-alive connection
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if path.startswith("/_emulator/"):
            return self.control(path)
        with STATE.lock:
            STATE.seq += 1
            STATE.stats["requests"] += 1
            fault = STATE.fault_for(self.command, path)
        kind = "arm" if ARM_PREFIX.match(path) else "token" if path.endswith("/oauth2/v2.0/token") else "blob"
        self._delay_response = 0
        if fault and "delay" in fault:
            time.sleep(fault["delay"])        # a slow service: then the request is served
            fault = None
        elif fault and "delay_response" in fault:
            self._delay_response = fault["delay_response"]  # served now, answered late
            fault = None
        if fault:
            self.body_bytes()
            return self.inject(fault, kind)
        self._deferred = None
        try:
            if kind == "arm":
                with STATE.lock:
                    STATE.stats["arm"] += 1
                self.arm(path, query)
            elif kind == "token":
                self.token(path)
            else:
                self.blob(path, query)
            if self._deferred:
                time.sleep(self._delay_response)
                self._delay_response = 0
                self.send(*self._deferred)
        except Reject as r:
            self._delay_response = 0
            try:
                self.body_bytes()
            except Reject:
                pass
            self.record(r.status, kind, "%s: %s" % (r.code, r.message))
            if kind == "arm":
                err = {"error": {"code": r.code, "message": r.message}}
                if r.details:
                    err["error"]["details"] = r.details
                self.send(r.status, err, headers={**self.arm_headers(), **r.headers})
            elif kind == "token":
                self.send(r.status, {"error": r.code, "error_description": r.message,
                                     "error_codes": [], "trace_id": str(uuid.uuid4()),
                                     "correlation_id": str(uuid.uuid4())})
            else:
                xml = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s\nRequestId:%s'
                       '</Message></Error>' % (r.code, r.message, uuid.uuid4()))
                self.send(r.status, xml if self.command != "HEAD" else b"", ctype="application/xml",
                          headers={"x-ms-error-code": r.code, "x-ms-request-id": str(uuid.uuid4())})

    def inject(self, f, kind):
        status = f["status"]
        headers = self.arm_headers() if kind == "arm" else {"x-ms-request-id": str(uuid.uuid4())}
        if "retry_after" in f:
            headers["Retry-After"] = f["retry_after"]
        code = f.get("code") or {429: "TooManyRequests", 503: "ServiceUnavailable", 500: "InternalServerError"}.get(
            status, "UserError")
        msg = f.get("message") or "injected by the emulator"
        self.record(status, "fault", "%s: %s" % (code, msg))
        if kind == "blob":
            xml = '<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>' % (code, msg)
            headers["x-ms-error-code"] = code
            return self.send(status, xml if self.command != "HEAD" else b"", ctype="application/xml", headers=headers)
        err = {"error": {"code": code, "message": msg}}
        if f.get("details"):
            err["error"]["details"] = f["details"]
        self.send(status, err, headers=headers)

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    # -- control
    def control(self, path):
        with STATE.lock:
            if path == "/_emulator/stats" and self.command == "GET":
                return self.send(200, dict(STATE.stats))
            if path == "/_emulator/log" and self.command == "GET":
                return self.send(200, STATE.log)
            if path == "/_emulator/faults" and self.command == "POST":
                STATE.set_faults(json.loads(self.body_bytes() or b"[]"))
                return self.send(200, {"faults": len(STATE.faults)})
            m = re.match(r"^/_emulator/jobs/([^/]+)$", path)
            if m and self.command == "GET":
                job = STATE.jobs.get(m.group(1))
                return self.send(200 if job else 404, job or {})
            if path == "/_emulator/blobs" and self.command == "GET":
                return self.send(200, {k: {"size": len(v["data"]), "md5": v["md5"]} for k, v in STATE.blobs.items()})
        self.send(404, {"error": "no such control endpoint"})

    # -- token endpoint
    def token(self, path):
        if self.command != "POST":
            raise Reject(405, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")
        tenant = path.split("/")[1]
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise Reject(400, "invalid_request",
                         "AADSTS900144: the request body must be application/x-www-form-urlencoded")
        form = urllib.parse.parse_qs(self.body_bytes().decode(), keep_blank_values=True)
        get = lambda k: form.get(k, [None])[0]
        for k in ("grant_type", "client_id", "scope"):
            if not get(k):
                raise Reject(400, "invalid_request",
                             "AADSTS900144: The request body must contain the following parameter: '%s'." % k)
        if get("grant_type") != "client_credentials":
            raise Reject(400, "unsupported_grant_type", "AADSTS70003: this emulator serves client_credentials only")
        if not any(t == tenant for (t, _c) in STATE.clients):
            raise Reject(400, "invalid_request", "AADSTS90002: Tenant '%s' not found." % tenant)
        if get("scope") != "https://management.azure.com/.default":
            raise Reject(400, "invalid_scope", "AADSTS70011: The provided value for scope %s is not valid." % get("scope"))
        secret = STATE.clients.get((tenant, get("client_id")))
        if secret is None:
            raise Reject(400, "unauthorized_client",
                         "AADSTS700016: Application with identifier '%s' was not found in the directory." % get("client_id"))
        if get("client_secret") != secret:
            raise Reject(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        tok = "emu." + secrets.token_urlsafe(24)
        with STATE.lock:
            STATE.tokens.add(tok)
            STATE.stats["tokens_issued"] += 1
        self.record(200, "token")
        self.send(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})

    # -- ARM
    def arm(self, path, query):
        m = ARM_PREFIX.match(path)
        sub, rg, ws, rest = m.group(1), m.group(2), m.group(3), m.group(4) or ""
        versions = query.get("api-version")
        if not versions:
            raise Reject(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required "
                         "for all requests.")
        if len(versions) > 1 or versions[0] != API_VERSION:
            raise Reject(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported versions "
                         "are '%s'." % (",".join(versions), API_VERSION))
        unknown = [k for k in query if k != "api-version"]
        if unknown:
            raise Reject(400, "InvalidQueryParameter", "Unknown query parameter(s): %s" % ", ".join(unknown))
        auth = self.headers.get("Authorization")
        if not auth:
            raise Reject(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                         headers={"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/"'})
        if not auth.startswith("Bearer ") or auth[7:] not in STATE.tokens:
            raise Reject(401, "InvalidAuthenticationToken", "The access token is invalid.",
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if not check_param("subscriptionId", sub):
            raise Reject(400, "InvalidSubscriptionId", "The provided subscription identifier '%s' is malformed or "
                         "invalid." % sub)
        if not check_param("resourceGroupName", rg):
            raise Reject(400, "InvalidResourceGroupName", "Resource group name '%s' is invalid." % rg)
        if sub != STATE.subscription:
            raise Reject(404, "SubscriptionNotFound", "The subscription '%s' could not be found." % sub)
        if rg != STATE.resource_group:
            raise Reject(404, "ResourceGroupNotFound", "Resource group '%s' could not be found." % rg)
        if ws != STATE.workspace:
            raise Reject(404, "ResourceNotFound", "The Resource 'Microsoft.MachineLearningServices/workspaces/%s' "
                         "under resource group '%s' was not found." % (ws, rg))
        body = None
        raw = self.body_bytes()
        if self.command in ("PUT", "POST") and raw:
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise Reject(415, "UnsupportedMediaType", "The content media type '%s' is not supported. Only "
                             "'application/json' is supported." % ctype)
            try:
                body = json.loads(raw)
            except ValueError as e:
                raise Reject(400, "InvalidRequestContent", "The request content was invalid and could not be "
                             "deserialized: %s" % e)
        routes = [
            ("GET", r"^$", self.get_workspace),
            ("GET", r"^/computes/([^/]+)$", self.get_compute),
            ("GET", r"^/codes/([^/]+)/versions/([^/]+)$", self.get_code),
            ("PUT", r"^/codes/([^/]+)/versions/([^/]+)$", self.put_code),
            ("POST", r"^/codes/([^/]+)/versions/([^/]+)/startPendingUpload$", self.start_pending_upload),
            ("GET", r"^/environments/([^/]+)/versions/([^/]+)$", self.get_env),
            ("PUT", r"^/environments/([^/]+)/versions/([^/]+)$", self.put_env),
            ("GET", r"^/jobs/([^/]+)$", self.get_job),
            ("PUT", r"^/jobs/([^/]+)$", self.put_job),
            ("POST", r"^/jobs/([^/]+)/cancel$", self.cancel_job),
        ]
        for method, pattern, fn in routes:
            mm = re.match(pattern, rest)
            if mm and method == self.command:
                with STATE.lock:
                    return fn(body, *[urllib.parse.unquote(g) for g in mm.groups()])
        raise Reject(404 if not any(re.match(p, rest) for _m, p, _f in routes) else 405, "NoRegisteredProviderFound"
                     if not any(re.match(p, rest) for _m, p, _f in routes) else "MethodNotAllowed",
                     "No route for %s %s in this API (api-version %s)" % (self.command, rest or "/", API_VERSION))

    def ok(self, status, body, op):
        self.record(status, op)
        self.send(status, body, headers=self.arm_headers())

    def need_body(self, body, definition):
        if body is None:
            raise Reject(400, "InvalidRequestContent", "The request content is required (%s)." % definition)
        errs = VALIDATOR.check_body(body, definition)
        if errs:
            raise Reject(400, "InvalidRequestContent", "The request content does not match %s: %s" % (
                definition, "; ".join("%s %s" % e for e in errs[:5])),
                details=[{"code": "ValidationError", "message": msg, "target": p} for p, msg in errs])

    def no_body(self, body):
        if self.body_bytes():
            raise Reject(400, "InvalidRequestContent", "This operation takes no request content.")

    def get_workspace(self, body):
        self.no_body(body)
        self.ok(200, {"id": STATE.ws_id(), "name": STATE.workspace, "type": "Microsoft.MachineLearningServices/workspaces",
                      "location": "westeurope", "properties": {"friendlyName": STATE.workspace,
                                                               "provisioningState": "Succeeded"}}, "Workspaces_Get")

    def get_compute(self, body, name):
        self.no_body(body)
        if name not in STATE.computes:
            raise Reject(404, "ResourceNotFound", "Compute '%s' was not found in workspace '%s'." % (name, STATE.workspace))
        self.ok(200, {"id": "%s/computes/%s" % (STATE.ws_id(), name), "name": name,
                      "type": "Microsoft.MachineLearningServices/workspaces/computes", "location": "westeurope",
                      "properties": {"computeType": "AmlCompute", "provisioningState": "Succeeded",
                                     "properties": {"vmSize": "STANDARD_DS3_V2"}}}, "Compute_Get")

    def resource(self, kind, name, version, props):
        return {"id": "%s/%s/%s/versions/%s" % (STATE.ws_id(), kind, name, version), "name": version,
                "type": "Microsoft.MachineLearningServices/workspaces/%s/versions" % kind,
                "properties": props,
                "systemData": {"createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "createdBy": "emulator",
                               "createdByType": "Application"}}

    def get_code(self, body, name, version):
        self.no_body(body)
        res = STATE.codes.get((name, version))
        if not res:
            raise Reject(404, "UserError", "Not found: code %s version %s" % (name, version))
        self.ok(200, res, "CodeVersions_Get")

    def start_pending_upload(self, body, name, version):
        self.need_body(body, "PendingUploadRequestDto")
        if body.get("pendingUploadType", "TemporaryBlobReference") != "TemporaryBlobReference":
            raise Reject(400, "UserError", "pendingUploadType: TemporaryBlobReference is the only supported type")
        pid = body.get("pendingUploadId") or str(uuid.uuid4())
        key = (name, version, pid)
        container = "azureml-blobstore-emulator"
        folder = STATE.pending.get(key) or "LocalUpload/%s/%s" % (pid.replace("-", ""), name)
        STATE.pending[key] = folder
        STATE.stats["pending_uploads"] += 1
        sig = secrets.token_urlsafe(18)
        STATE.sas[sig] = (container, time.time() + 3600)
        host = "http://127.0.0.1:%d" % self.server.server_address[1]
        se = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        sas_uri = "%s/%s/%s?sv=2021-12-02&sr=c&sp=rcwl&se=%s&sig=%s" % (
            host, STORAGE_ACCOUNT, container, urllib.parse.quote(se), urllib.parse.quote(sig))
        resp = {"blobReferenceForConsumption": {
            "blobUri": "%s/%s/%s/%s" % (host, STORAGE_ACCOUNT, container, folder),
            "storageAccountArmId": "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s"
                                   % (STATE.subscription, STATE.resource_group, STORAGE_ACCOUNT),
            "credential": {"credentialType": "SAS", "sasUri": sas_uri}},
            "pendingUploadId": pid, "pendingUploadType": "TemporaryBlobReference"}
        self.ok(200, resp, "CodeVersions_CreateOrGetPendingUpload")

    def put_code(self, body, name, version):
        if not check_param("assetName", name):
            raise Reject(400, "UserError", "Code name '%s' does not match %s" % (name, SPEC["parameters"]["assetName"]["pattern"]))
        self.need_body(body, "CodeVersionResource")
        uri = body["properties"].get("codeUri")
        if not uri:
            raise Reject(400, "UserError", "codeUri is required to create a code version")
        prefix = "http://127.0.0.1:%d/%s/" % (self.server.server_address[1], STORAGE_ACCOUNT)
        if not uri.startswith(prefix):
            raise Reject(400, "UserError", "codeUri %s is not in the workspace's storage" % uri)
        folder = uri[len(prefix):].rstrip("/") + "/"
        if not any(k.startswith(folder) for k in STATE.blobs):
            raise Reject(400, "UserError", "codeUri %s has no uploaded files" % uri)
        existing = STATE.codes.get((name, version))
        if existing:
            if existing["properties"]["codeUri"] != uri:
                raise Reject(409, "UserError", "Code %s version %s already exists with another codeUri; versions are "
                             "immutable" % (name, version))
            return self.ok(200, existing, "CodeVersions_CreateOrUpdate")
        props = dict(body["properties"], provisioningState="Succeeded")
        res = self.resource("codes", name, version, props)
        STATE.codes[(name, version)] = res
        STATE.stats["code_versions_created"] += 1
        self.ok(201, res, "CodeVersions_CreateOrUpdate")

    def get_env(self, body, name, version):
        self.no_body(body)
        res = STATE.envs.get((name, version))
        if not res:
            raise Reject(404, "UserError", "Not found: environment %s version %s" % (name, version))
        self.ok(200, res, "EnvironmentVersions_Get")

    def put_env(self, body, name, version):
        if not check_param("assetName", name):
            raise Reject(400, "UserError", "Environment name '%s' does not match %s" % (name, SPEC["parameters"]["assetName"]["pattern"]))
        if name.lower().startswith(("azureml", "microsoft")):
            raise Reject(400, "UserError", "Environment names beginning with AzureML or Microsoft are reserved")
        self.need_body(body, "EnvironmentVersionResource")
        p = body["properties"]
        if not p.get("image") and not p.get("build"):
            raise Reject(400, "UserError", "An environment needs an image or a build context")
        if p.get("image") and p.get("build"):
            raise Reject(400, "UserError", "image and build are mutually exclusive")
        if p.get("condaFile") is not None and "dependencies" not in p["condaFile"]:
            raise Reject(400, "UserError", "condaFile is not a conda environment specification (no dependencies)")
        existing = STATE.envs.get((name, version))
        if existing:
            mine = {k: v for k, v in existing["properties"].items() if k not in ("provisioningState", "environmentType")}
            if mine != p:
                raise Reject(409, "UserError", "Environment %s version %s already exists with another definition"
                             % (name, version))
            return self.ok(200, existing, "EnvironmentVersions_CreateOrUpdate")
        res = self.resource("environments", name, version,
                            dict(p, provisioningState="Succeeded", environmentType="UserCreated"))
        STATE.envs[(name, version)] = res
        STATE.stats["environment_versions_created"] += 1
        self.ok(201, res, "EnvironmentVersions_CreateOrUpdate")

    def job_view(self, job):
        res = json.loads(json.dumps(job["resource"]))
        res["properties"]["status"] = job["status"]
        return res

    def get_job(self, body, jid):
        self.no_body(body)
        job = STATE.jobs.get(jid)
        if not job:
            raise Reject(404, "UserError", "Job %s not found" % jid)
        job["polls"] += 1
        if job["status"] == "CancelRequested":
            job["status"] = "Canceled"
        elif job["status"] not in ("Completed", "Failed", "Canceled"):
            steps = job["steps"]
            job["status"] = steps[min(job["polls"] - 1, len(steps) - 1)]
        self.ok(200, self.job_view(job), "Jobs_Get")

    def put_job(self, body, jid):
        if not check_param("jobId", jid):
            raise Reject(400, "UserError", "Job id '%s' does not match %s" % (jid, SPEC["parameters"]["jobId"]["pattern"]))
        self.need_body(body, "JobBaseResource")
        p = body["properties"]
        if p["jobType"] != "Command":
            raise Reject(400, "UserError", "this emulator runs Command jobs only")
        wsid = STATE.ws_id()
        details = []
        code = p.get("codeId")
        if code is not None:
            m = re.match(re.escape(wsid) + r"/codes/([^/]+)/versions/([^/]+)$", code)
            if not m or (m.group(1), m.group(2)) not in STATE.codes:
                details.append({"code": "NotFound", "message": "code %s does not exist" % code, "target": "codeId"})
        env = p["environmentId"]
        m = re.match(re.escape(wsid) + r"/environments/([^/]+)/versions/([^/]+)$", env)
        if m:
            if (m.group(1), m.group(2)) not in STATE.envs and not m.group(1).startswith("AzureML-"):
                details.append({"code": "NotFound", "message": "environment %s does not exist" % env,
                                "target": "environmentId"})
        elif not re.match(r"^azureml://registries/[^/]+/environments/[^/]+/(versions/[^/]+|labels/[^/]+)$", env):
            details.append({"code": "Invalid", "message": "environmentId %s is neither an environment of the "
                            "workspace nor of a registry" % env, "target": "environmentId"})
        compute = p.get("computeId")
        if compute is not None:
            m = re.match(re.escape(wsid) + r"/computes/([^/]+)$", compute)
            if not m or m.group(1) not in STATE.computes:
                details.append({"code": "NotFound", "message": "compute %s does not exist" % compute,
                                "target": "computeId"})
        res = p.get("resources") or {}
        if res.get("instanceCount", 1) < 1:
            details.append({"code": "Invalid", "message": "instanceCount must be at least 1",
                            "target": "resources.instanceCount"})
        dist = p.get("distribution") or {}
        for k in ("processCountPerInstance", "workerCount"):
            if dist.get(k) is not None and dist[k] < 1:
                details.append({"code": "Invalid", "message": "%s must be at least 1" % k, "target": "distribution." + k})
        if details:
            raise Reject(400, "UserError", "The job definition is invalid.", details=details)
        existing = STATE.jobs.get(jid)
        if existing:
            if existing["body"] != body:
                raise Reject(409, "UserError", "A job named %s already exists; job definitions cannot be changed" % jid)
            return self.ok(200, self.job_view(existing), "Jobs_CreateOrUpdate")
        cmd = p["command"]
        steps = ["Queued", "Starting", "Running", "Running",
                 "Failed" if "EMULATOR_FAIL" in cmd else "Running" if "EMULATOR_HANG" in cmd else "Completed"]
        props = dict(p)
        props["services"] = {
            "Studio": {"jobServiceType": "Studio",
                       "endpoint": "https://ml.azure.com/runs/%s?wsid=%s" % (jid, wsid)},
            "Tracking": {"jobServiceType": "Tracking",
                         "endpoint": "azureml://westeurope.api.azureml.ms/mlflow/v1.0%s" % wsid}}
        resource = {"id": "%s/jobs/%s" % (wsid, jid), "name": jid,
                    "type": "Microsoft.MachineLearningServices/workspaces/jobs", "properties": props,
                    "systemData": {"createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "createdBy": "emulator", "createdByType": "Application"}}
        STATE.jobs[jid] = {"resource": resource, "body": body, "status": "NotStarted", "polls": 0, "steps": steps}
        STATE.stats["jobs_created"] += 1
        self.ok(201, self.job_view(STATE.jobs[jid]), "Jobs_CreateOrUpdate")

    def cancel_job(self, body, jid):
        self.no_body(body)
        job = STATE.jobs.get(jid)
        if not job:
            raise Reject(404, "UserError", "Job %s not found" % jid)
        if job["status"] in ("Completed", "Failed", "Canceled"):
            raise Reject(400, "UserError", "Job %s has already ended (%s)" % (jid, job["status"]))
        job["status"] = "CancelRequested"
        STATE.stats["jobs_canceled"] += 1
        headers = self.arm_headers()
        headers["Location"] = "https://management.azure.com%s/providers/Microsoft.MachineLearningServices/locations/" \
                              "westeurope/mfeOperationResults/jc:%s?api-version=%s" % (
                                  "/subscriptions/" + STATE.subscription, jid, API_VERSION)
        headers["Retry-After"] = "10"
        self.record(202, "Jobs_Cancel")
        self.send(202, b"", headers=headers)

    # -- blob storage
    def blob(self, path, query):
        parts = path.split("/", 3)
        if len(parts) < 4 or parts[1] != STORAGE_ACCOUNT or not parts[3]:
            raise Reject(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
        container, name = parts[2], urllib.parse.unquote(parts[3])
        q = {k: v[0] for k, v in query.items()}
        sig = q.get("sig")
        grant = STATE.sas.get(sig) if sig else None
        if not grant or grant[0] != container or grant[1] < time.time() or q.get("sr") != "c" or not q.get("sv"):
            raise Reject(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of "
                         "Authorization header is formed correctly including the signature.")
        if self.headers.get("Authorization"):
            raise Reject(400, "InvalidAuthenticationInfo", "A SAS request must not also carry an Authorization header")
        ver = self.headers.get("x-ms-version")
        if not ver or not BLOB_VERSION_RE.match(ver):
            raise Reject(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not "
                         "specified: x-ms-version")
        key = "%s/%s" % (container, name)
        comp = q.get("comp")
        perms = q.get("sp", "")
        with STATE.lock:
            if self.command == "PUT":
                if "w" not in perms and "c" not in perms:
                    raise Reject(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform "
                                 "this operation using this permission.")
                if comp is None:
                    return self.put_blob(key)
                if comp == "block":
                    return self.put_block(key, q)
                if comp == "blocklist":
                    return self.put_block_list(key)
            elif self.command in ("GET", "HEAD"):
                if "r" not in perms:
                    raise Reject(403, "AuthorizationPermissionMismatch", "no read permission")
                if comp == "blocklist" and self.command == "GET":
                    return self.get_block_list(key, q)
                if comp is None:
                    return self.get_blob(key)
        raise Reject(400, "UnsupportedHttpVerb" if comp is None else "InvalidQueryParameterValue",
                     "%s with comp=%s is not supported" % (self.command, comp))

    def check_md5(self, data, header):
        if header is None:
            return
        try:
            given = base64.b64decode(header, validate=True)
        except (binascii.Error, ValueError):
            raise Reject(400, "InvalidMd5", "The MD5 value specified in the request is invalid.")
        if given != hashlib.md5(data).digest():
            raise Reject(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 "
                         "value calculated by the server.")

    def put_blob(self, key):
        btype = self.headers.get("x-ms-blob-type")
        if btype is None:
            raise Reject(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not "
                         "specified: x-ms-blob-type")
        if btype not in ("BlockBlob", "PageBlob", "AppendBlob"):
            raise Reject(400, "InvalidHeaderValue", "x-ms-blob-type: %s" % btype)
        if btype != "BlockBlob":
            raise Reject(400, "InvalidHeaderValue", "this emulator stores block blobs only")
        data = self.body_bytes()
        self.check_md5(data, self.headers.get("Content-MD5"))
        STATE.blobs[key] = {"data": data, "md5": base64.b64encode(hashlib.md5(data).digest()).decode(), "blocks": []}
        STATE.uncommitted.pop(key, None)
        STATE.stats["put_blob"] += 1
        STATE.stats["uploads"] += 1
        STATE.stats["upload_bytes"] += len(data)
        self.record(201, "PutBlob")
        self.send(201, b"", headers={"x-ms-request-id": str(uuid.uuid4()), "ETag": '"%s"' % uuid.uuid4(),
                                     "Content-MD5": STATE.blobs[key]["md5"], "x-ms-request-server-encrypted": "true"})

    def put_block(self, key, q):
        bid = q.get("blockid")
        if not bid:
            raise Reject(400, "MissingRequiredQueryParameter", "blockid is required")
        try:
            raw = base64.b64decode(bid, validate=True)
        except (binascii.Error, ValueError):
            raise Reject(400, "InvalidQueryParameterValue", "blockid is not base64")
        if len(raw) > 64:
            raise Reject(400, "InvalidQueryParameterValue", "blockid is longer than 64 bytes")
        blocks = STATE.uncommitted.setdefault(key, {})
        if blocks and any(len(b) != len(bid) for b in blocks):
            raise Reject(400, "InvalidBlobOrBlock", "The specified blob or block content is invalid (block ids of one "
                         "blob must have one length).")
        data = self.body_bytes()
        self.check_md5(data, self.headers.get("Content-MD5"))
        blocks[bid] = data
        STATE.stats["put_block"] += 1
        STATE.stats["uploads"] += 1
        STATE.stats["upload_bytes"] += len(data)
        self.record(201, "PutBlock")
        self.send(201, b"", headers={"x-ms-request-id": str(uuid.uuid4()),
                                     "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode()})

    def put_block_list(self, key):
        raw = self.body_bytes()
        self.check_md5(raw, self.headers.get("Content-MD5"))
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as e:
            raise Reject(400, "InvalidXmlDocument", "XML specified is not syntactically valid: %s" % e)
        if root.tag != "BlockList":
            raise Reject(400, "InvalidXmlDocument", "the root element must be BlockList")
        pending = STATE.uncommitted.get(key, {})
        committed = {bid: STATE.blobs[key]["data"][off:off + size]
                     for bid, off, size in self.offsets(STATE.blobs.get(key))}
        data, blocks = b"", []
        for el in root:
            bid = (el.text or "").strip()
            if el.tag == "Latest":
                chunk = pending.get(bid, committed.get(bid))
            elif el.tag == "Uncommitted":
                chunk = pending.get(bid)
            elif el.tag == "Committed":
                chunk = committed.get(bid)
            else:
                raise Reject(400, "InvalidXmlNodeValue", "unknown element %s in BlockList" % el.tag)
            if chunk is None:
                raise Reject(400, "InvalidBlockList", "The specified block list is invalid (%s %s)." % (el.tag, bid))
            data += chunk
            blocks.append((bid, len(chunk)))
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        given = self.headers.get("x-ms-blob-content-md5")
        if given and given != md5:
            STATE.stats["md5_mismatch_stored"] += 1
        STATE.blobs[key] = {"data": data, "md5": given or md5, "blocks": blocks}
        STATE.uncommitted.pop(key, None)
        STATE.stats["put_block_list"] += 1
        self.record(201, "PutBlockList")
        self.send(201, b"", headers={"x-ms-request-id": str(uuid.uuid4()), "ETag": '"%s"' % uuid.uuid4()})

    @staticmethod
    def offsets(blob):
        off = 0
        for bid, size in (blob or {}).get("blocks", []):
            yield bid, off, size
            off += size

    def get_blob(self, key):
        b = STATE.blobs.get(key)
        if not b:
            raise Reject(404, "BlobNotFound", "The specified blob does not exist.")
        headers = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-blob-type": "BlockBlob", "Content-MD5": b["md5"],
                   "ETag": '"0x%s"' % hashlib.md5(b["data"]).hexdigest()[:16].upper(),
                   "Last-Modified": email.utils.formatdate(usegmt=True)}
        if self.command == "HEAD":
            STATE.stats["head_blob"] += 1
            headers["Content-Length"] = str(len(b["data"]))
            self.record(200, "GetBlobProperties")
            return self.send(200, b"", ctype="application/octet-stream", headers=headers, head=True)
        STATE.stats["get_blob"] += 1
        self.record(200, "GetBlob")
        self.send(200, b["data"], ctype="application/octet-stream", headers=headers)

    def get_block_list(self, key, q):
        which = q.get("blocklisttype", "committed")
        if which not in ("committed", "uncommitted", "all"):
            raise Reject(400, "InvalidQueryParameterValue", "blocklisttype: %s" % which)
        STATE.stats["get_block_list"] += 1
        blob = STATE.blobs.get(key)
        pending = STATE.uncommitted.get(key, {})
        if not blob and not pending:
            raise Reject(404, "BlobNotFound", "The specified blob does not exist.")
        out = ['<?xml version="1.0" encoding="utf-8"?><BlockList>']
        if which in ("committed", "all"):
            out.append("<CommittedBlocks>")
            out += ["<Block><Name>%s</Name><Size>%d</Size></Block>" % (b, s) for b, s in (blob or {}).get("blocks", [])]
            out.append("</CommittedBlocks>")
        if which in ("uncommitted", "all"):
            out.append("<UncommittedBlocks>")
            out += ["<Block><Name>%s</Name><Size>%d</Size></Block>" % (b, len(d)) for b, d in pending.items()]
            out.append("</UncommittedBlocks>")
        out.append("</BlockList>")
        self.record(200, "GetBlockList")
        self.send(200, "".join(out), ctype="application/xml", headers={"x-ms-request-id": str(uuid.uuid4())})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--subscription", default="00000000-1111-2222-3333-444444444444")
    ap.add_argument("--resource-group", default="ml-rg")
    ap.add_argument("--workspace", default="ml-ws")
    ap.add_argument("--compute", action="append", default=[])
    ap.add_argument("--token", action="append", default=[], help="a bearer token to accept")
    ap.add_argument("--client", action="append", default=[], help="TENANT:CLIENT_ID:SECRET for client credentials")
    ap.add_argument("--faults", help="JSON list of fault rules")
    args = ap.parse_args()
    if not args.compute:
        args.compute = ["cpu-cluster"]
    global STATE
    STATE = State(args)
    srv = Server(("127.0.0.1", args.port), Handler)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print(port, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
