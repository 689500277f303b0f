#!/usr/bin/env python3
"""Checks for amlspec's Azure ML export and import (used by tests/e2e/azureml_*.sh).

  jobcheck.py yaml JOB.yml            the file against the CLI v2 commandJob facts (spec/commandJob.facts.json)
  jobcheck.py rest BODY.json          the body against the REST definitions (spec/mfe-2023-04-01.json: JobBaseResource)
  jobcheck.py equiv ORIG.yml NEW.yml  NEW (exported after an import of ORIG) is the same job as ORIG

Equivalence: the same effective command (${{inputs.x}} replaced by the literal value or the path, as the job
sees it; words compared after POSIX splitting, python3 = python; a line only a shell can run must come back as
bash -c with the same text), environment (a curated reference to the same name and version -- @latest may come
back pinned -- or the same image and the same conda channels and dependencies in order), compute, node count,
distribution, environment variables, experiment, display name, description and timeout (none = amlspec's
default, 30 days).
"""
import json
import os
import re
import shlex
import sys

try:
    import yaml
except ImportError:  # Debian's python3-yaml
    sys.stderr.write("jobcheck.py needs PyYAML (Debian: apt-get install python3-yaml)\n")
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TIMEOUT = 30 * 86400


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


# ------------------------------------------------------------------ commandJob facts

def type_ok(v, t):
    return {"string": isinstance(v, str), "integer": isinstance(v, int) and not isinstance(v, bool),
            "object": isinstance(v, dict), "boolean": isinstance(v, bool)}.get(t, False)


def check_prop(v, ps, defs, path, errs):
    if "one_of" in ps:
        trials = []
        for alt in ps["one_of"]:
            e = []
            check_prop(v, alt, defs, path, e)
            trials.append(e)
        if not any(not e for e in trials):
            errs.append("%s: matches none of its forms (%s)" % (path, "; ".join(e[0] for e in trials if e)))
        return
    if not type_ok(v, ps["type"]):
        errs.append("%s: must be %s, is %r" % (path, ps["type"], v))
        return
    if "enum" in ps and v not in ps["enum"]:
        errs.append("%s: %r is not one of %s" % (path, v, ps["enum"]))
    if "pattern" in ps and not re.search(ps["pattern"], v):
        errs.append("%s: does not match %s" % (path, ps["pattern"]))
    if "values" in ps:
        for k, item in v.items():
            check_prop(item, ps["values"], defs, "%s.%s" % (path, k), errs)
    if "ref" in ps:
        check_obj(v, defs[ps["ref"]], defs, path, errs)


def check_obj(v, d, defs, path, errs):
    for r in d.get("required", []):
        if r not in v:
            errs.append("%s.%s: required" % (path, r))
    for k, item in v.items():
        if k not in d["properties"]:
            if d.get("additional_properties") is False:
                errs.append("%s.%s: not a property of the schema" % (path, k))
            continue
        check_prop(item, d["properties"][k], defs, "%s.%s" % (path, k), errs)


def check_yaml(path):
    with open(os.path.join(HERE, "spec", "commandJob.facts.json")) as f:
        facts = json.load(f)
    job = load_yaml(path)
    errs = []
    if not isinstance(job, dict):
        errs.append("not a mapping")
    else:
        top = {"required": facts["required"], "additional_properties": facts["additional_properties"],
               "properties": facts["properties"]}
        check_obj(job, top, facts["definitions"], "job", errs)
        env = job.get("environment")
        if isinstance(env, dict):
            if not env.get("image") and not env.get("build"):
                errs.append("job.environment: one of image or build is required")
            if env.get("conda_file") is not None and not env.get("image"):
                errs.append("job.environment: conda_file needs image")
    for e in errs:
        print("commandJob: " + e)
    return 1 if errs else 0


# ------------------------------------------------------------------ REST body

def check_rest(path):
    sys.path.insert(0, HERE)
    import emulator  # the same validator the emulator uses
    with open(path) as f:
        body = json.load(f)
    errs = emulator.VALIDATOR.check_body(body, "JobBaseResource")
    for p, msg in errs:
        print("JobBaseResource: %s %s" % (p, msg))
    return 1 if errs else 0


# ------------------------------------------------------------------ equivalence

def effective_command(job):
    cmd = job["command"]
    inputs = job.get("inputs") or {}

    def repl(m):
        ref = m.group(1).strip()
        if ref.startswith("inputs."):
            v = inputs[ref[7:]]
            if isinstance(v, dict):
                v = v.get("value", v.get("path"))
            if isinstance(v, bool):
                return "true" if v else "false"
            return str(v)
        if ref.startswith("outputs."):
            return "outputs/" + ref[8:]
        return m.group(0)
    return re.sub(r"\$\{\{(.*?)\}\}", repl, cmd)


SHELL_ONLY = re.compile(r"[|&;<>()`$*?\[{}]|^\s*\w+=|(^|\s)[#~]")


def words(line):
    w = shlex.split(line, posix=True)
    if w and w[0] == "python3":
        w[0] = "python"
    return w


def norm_space(s):
    return " ".join(s.split())


def env_ref(s):
    """(name, version or None) of a curated reference in any of its forms."""
    s = s[8:] if s.startswith("azureml:") else s
    m = re.search(r"/environments/([^/]+)/(versions|labels)/([^/]+)$", s)
    if m:
        return m.group(1), m.group(3) if m.group(2) == "versions" else None
    if "@" in s:
        return s.split("@")[0], None
    name, _, ver = s.rpartition(":")
    return name, ver


def conda_of(env, base):
    cf = env.get("conda_file")
    if cf is None:
        return None
    if isinstance(cf, str):
        cf = load_yaml(os.path.join(base, cf))
    return {"channels": cf.get("channels") or [], "dependencies": cf.get("dependencies") or []}


def equiv(orig_path, new_path):
    a, b = load_yaml(orig_path), load_yaml(new_path)
    base_a, base_b = os.path.dirname(orig_path), os.path.dirname(new_path)
    diffs = []

    def same(what, x, y):
        if x != y:
            diffs.append("%s: %r != %r" % (what, x, y))

    line = effective_command(a)
    if SHELL_ONLY.search(line):
        w = words(b["command"])
        if len(w) != 3 or w[:2] != ["bash", "-c"]:
            diffs.append("command: %r needs a shell, exported %r" % (line, b["command"]))
        else:
            same("command (via bash -c)", norm_space(line), norm_space(w[2]))
    else:
        same("command", words(line), words(b["command"]))
    ea, eb = a["environment"], b["environment"]
    if isinstance(ea, str):
        if not isinstance(eb, str):
            diffs.append("environment: a reference became %r" % eb)
        else:
            (na, va), (nb, vb) = env_ref(ea), env_ref(eb)
            same("environment name", na, nb)
            if va is not None:
                same("environment version", va, vb)
    else:
        if not isinstance(eb, dict):
            diffs.append("environment: inline became %r" % eb)
        else:
            same("environment image", ea.get("image"), eb.get("image"))
            same("environment conda", conda_of(ea, base_a), conda_of(eb, base_b))
    same("compute", (a.get("compute") or "local").replace("azureml:", ""), (b.get("compute") or "local").replace("azureml:", ""))
    na = (a.get("resources") or {}).get("instance_count", 1)
    same("instance_count", na, (b.get("resources") or {}).get("instance_count", 1))
    da, db = a.get("distribution"), b.get("distribution")
    if da:
        t = da["type"]
        same("distribution type", t, (db or {}).get("type"))
        if t in ("pytorch", "mpi"):
            same("process_count_per_instance", da.get("process_count_per_instance", 1),
                 (db or {}).get("process_count_per_instance", 1))
        elif t == "tensorflow":
            same("worker_count", da.get("worker_count", na), (db or {}).get("worker_count", na))
    else:
        same("distribution", None, db)
    same("environment_variables", {k: str(v) for k, v in (a.get("environment_variables") or {}).items()},
         {k: str(v) for k, v in (b.get("environment_variables") or {}).items()})
    for k in ("experiment_name", "display_name", "description"):
        if k in a:
            same(k, a[k], b.get(k))
    same("timeout", (a.get("limits") or {}).get("timeout", DEFAULT_TIMEOUT),
         (b.get("limits") or {}).get("timeout", DEFAULT_TIMEOUT))
    same("code", a.get("code", ".") if not isinstance(a.get("code"), dict) else a["code"].get("local_path"),
         b.get("code", "."))
    for d in diffs:
        print("differs: " + d)
    return 1 if diffs else 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "yaml":
        return check_yaml(sys.argv[2])
    if len(sys.argv) >= 3 and sys.argv[1] == "rest":
        return check_rest(sys.argv[2])
    if len(sys.argv) >= 4 and sys.argv[1] == "equiv":
        return equiv(sys.argv[2], sys.argv[3])
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main())
