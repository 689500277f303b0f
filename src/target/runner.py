# amlspec remote runner: the part of the ssh and slurm targets that runs on
# the host (an ssh host, or a Slurm login node, or this machine for a Slurm
# cluster reached without ssh).
#
# amlspec starts it as `PYTHON -c LOADER`, with this program on stdin, then
# requests: a JSON line each, followed by a binary payload the request
# announces ("blobs"). Each answer is one JSON line on stdout, sometimes
# followed by raw bytes that it announces ("payload": [[name, size], ...]).
# One process serves every request of an amlspec command (a session), so a
# command pays for one remote login shell. Progress (environment builds)
# goes to stderr. Nothing here goes through a shell: commands run from argv
# lists.
#
# Layout under the target's work_dir:
#   objects/xx/yyyy...   file contents by git blob id (content-addressed:
#                        a file is sent once per host, whatever run needs it)
#   envs/<hex>           materialized environments (a symlink published by
#                        rename to .build-<hex>-*; <hex>.lock serialises builds)
#   runs/<run_id>/       run.json, driver.log, metrics.jsonl, supervisor.lock,
#                        cancel.request, wd/ (the snapshot, outputs/, logs/)
#
# The supervisor mirrors src/target/supervisor.c: the run's processes in one
# process group, stdout and stderr to driver.log, limits.timeout (SIGTERM,
# SIGKILL 10 s later), the outcome in run.json written atomically, and an
# fcntl lock on supervisor.lock held for its whole life.
#
# Written for Python 3.6 and later (the oldest python3 a host is likely to have).
import errno
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

PROTOCOL = 1
KILL_GRACE = 10
TERMINAL = ("Completed", "Failed", "Canceled")


class Refused(Exception):
    """An error to report to amlspec as the answer's "error"."""


def now_rfc3339():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def log(msg):
    sys.stderr.write("amlspec: %s\n" % msg)
    sys.stderr.flush()


def read_exact(f, n):
    chunks = []
    while n > 0:
        b = f.read(min(n, 1 << 20))
        if not b:
            raise Refused("the request ended early")
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def write_atomic(path, data, mode=0o600, durable=True):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if not durable:
        return
    try:
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load_json(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def save_record(run_dir, rec):
    data = json.dumps(rec, indent=2, sort_keys=False).encode("utf-8") + b"\n"
    write_atomic(os.path.join(run_dir, "run.json"), data)


def work_dir_of(req):
    wd = req.get("work_dir") or "~/amlspec"
    return os.path.abspath(os.path.expanduser(wd))


def run_dir_of(req):
    wd = work_dir_of(req)
    rid = req.get("run_id", "")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,300}$", rid):
        raise Refused("bad run id %r" % rid)
    return os.path.join(wd, "runs", rid)


# ---------------------------------------------------------------- hello

def a_hello(req, inp):
    u = os.uname()
    return {"ok": True, "machine": u.machine, "system": u.sysname, "python": sys.executable,
            "python_version": "%d.%d.%d" % tuple(sys.version_info[:3]), "work_dir": work_dir_of(req),
            "home": os.path.expanduser("~"), "uid": os.getuid(), "protocol": PROTOCOL}


# ---------------------------------------------------------------- objects

def object_path(wd, sha):
    return os.path.join(wd, "objects", sha[:2], sha[2:])


def flush_file_system(path):
    """One syncfs(2) for many files instead of an fsync each (a thousand
    fsyncs cost seconds); sync(2) where syncfs is not available."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError, ImportError):
        pass
    os.sync()


def receive_objects(wd, blobs, inp):
    wrote = False
    for sha, size in blobs:
        if not re.match(r"^[0-9a-f]{40}$", sha):
            raise Refused("bad object id %r" % sha)
        data = read_exact(inp, int(size))
        h = hashlib.sha1(b"blob %d\0" % len(data))
        h.update(data)
        if h.hexdigest() != sha:
            raise Refused("object %s arrived damaged" % sha)
        p = object_path(wd, sha)
        if os.path.exists(p):
            continue
        os.makedirs(os.path.dirname(p), 0o700, exist_ok=True)
        write_atomic(p, data, 0o600, durable=False)
        wrote = True
    if wrote:
        flush_file_system(os.path.join(wd, "objects"))


def object_intact(wd, sha, size):
    """Present with the right size; a damaged one is removed (it will be sent
    again)."""
    p = object_path(wd, sha)
    try:
        if os.path.getsize(p) == int(size):
            return True
        os.unlink(p)
    except OSError:
        pass
    return False


def safe_rel(path):
    if not path or path.startswith("/") or "\0" in path:
        raise Refused("bad path in snapshot: %r" % path)
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise Refused("bad path in snapshot: %r" % path)
    return path


def checkout(wd, files, dest):
    """Writes the snapshot's files (from the object store) into dest."""
    os.makedirs(dest, 0o755)
    for path, mode, sha, size in files:
        rel = safe_rel(path)
        target = os.path.join(dest, rel)
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        src = object_path(wd, sha)
        if mode == 0o120000:
            with open(src, "rb") as f:
                os.symlink(f.read(), target)
        else:
            shutil.copyfile(src, target)
            os.chmod(target, 0o755 if mode & 0o111 else 0o644)


# ---------------------------------------------------------------- environments

def parse_version(s, strict):
    m = re.match(r"^(\d+(?:\.\d+){0,3})" + ("$" if strict else ""), s or "")
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def version_matches(want, have):
    return have is not None and len(have) >= len(want) and have[:len(want)] == want


def python_version_of(path):
    try:
        out = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=30).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_version(out[7:].strip(), False) if out.startswith("Python ") else None


def find_python(version):
    if not version:
        return sys.executable
    want = parse_version(version, True)
    if not want:
        raise Refused("'%s' is not a Python version (expected e.g. 3.11 or 3.11.7)" % version)
    names = (["python%d.%d" % want[:2]] if len(want) >= 2 else []) + ["python%d" % want[0], "python"]
    proot = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    shims = os.path.join(proot, "shims")
    seen, cands = set(), []

    def consider(p):
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            return
        real = os.path.realpath(p)
        if real in seen:
            return
        seen.add(real)
        cands.append((p, python_version_of(p)))

    consider(sys.executable)
    for d in os.environ.get("PATH", "").split(":"):
        if d.startswith("/") and d.rstrip("/") != shims:
            for n in names:
                consider(os.path.join(d, n))
    vdir = os.path.join(proot, "versions")
    pyenv_names = sorted(os.listdir(vdir)) if os.path.isdir(vdir) else []
    for n in pyenv_names:
        v = parse_version(n, True)
        if v and version_matches(want, v):
            consider(os.path.join(vdir, n, "bin", "python"))
    best = None
    for p, v in cands:
        if version_matches(want, v) and (best is None or v > best[1]):
            best = (p, v)
    if best:
        return best[0]
    have = ", ".join("%s at %s" % (".".join(map(str, v)), p) for p, v in cands if v)
    raise Refused("python %s not found on the host (PATH or pyenv versions; found: %s); install it or change "
                  "environment.python.version" % (version, have or "none"))


def run_step(what, argv, label, cwd):
    log("$ " + " ".join(argv))
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    tail = []
    for line in iter(p.stdout.readline, b""):
        sys.stderr.buffer.write(line)
        sys.stderr.flush()
        tail = (tail + [line.decode("utf-8", "replace").rstrip()])[-12:]
    rc = p.wait()
    if rc != 0:
        raise Refused("%s failed for environment %s (%s exited with status %d); last lines of its output:\n    %s"
                      % (what, label, os.path.basename(argv[0]), rc, "\n    ".join(tail)))


def env_complete(envdir):
    py = os.path.join(envdir, "bin", "python")
    return os.path.isfile(os.path.join(envdir, "env.json")) and os.path.isfile(py) and os.access(py, os.X_OK)


def user_managed_python(d):
    want = (d.get("python") or {}).get("interpreter_path")
    if not want:
        return sys.executable
    p = os.path.expanduser(want)
    if "/" in p:
        p = os.path.abspath(p)
        if not (os.path.isfile(p) and os.access(p, os.X_OK)):
            raise Refused("interpreter %s does not exist on the host or is not executable "
                          "(environment.python.interpreter_path)" % want)
        return p
    found = shutil.which(p)
    if not found:
        raise Refused("interpreter '%s' not found on the host's PATH (environment.python.interpreter_path)" % want)
    return found


def ensure_env(wd, env):
    """(python, prefix or None, reused)"""
    d = env.get("def") or {}
    py = d.get("python") or {}
    if py.get("user_managed_dependencies"):
        return user_managed_python(d), None, False
    digest = env.get("digest") or ""
    m = re.match(r"^sha256:([0-9a-f]{64})$", digest)
    if not m:
        raise Refused("environment digest %r is not sha256" % digest)
    hexd = m.group(1)
    root = os.path.join(wd, "envs")
    envdir = os.path.join(root, hexd)
    if env_complete(envdir):
        return os.path.join(envdir, "bin", "python"), envdir, True
    os.makedirs(root, 0o755, exist_ok=True)
    label = env.get("label") or hexd[:12]
    lockfd = os.open(envdir + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.lockf(lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log("waiting for another build of environment %s to finish" % label)
            fcntl.lockf(lockfd, fcntl.LOCK_EX)
        if env_complete(envdir):
            return os.path.join(envdir, "bin", "python"), envdir, True
        # leftovers of killed builds
        if os.path.islink(envdir):
            os.unlink(envdir)
        elif os.path.exists(envdir):
            shutil.rmtree(envdir, ignore_errors=True)
        for n in os.listdir(root):
            if n.startswith(".build-%s-" % hexd):
                shutil.rmtree(os.path.join(root, n), ignore_errors=True)
        build = tempfile.mkdtemp(prefix=".build-%s-" % hexd, dir=root)
        os.chmod(build, 0o755)
        log("building environment %s (%s) in %s" % (label, digest, build))
        try:
            conda = py.get("conda_packages") or []
            if conda:
                tool = None
                for n in ("micromamba", "mamba", "conda"):
                    tool = shutil.which(n)
                    if tool:
                        break
                if not tool:
                    raise Refused("environment %s has conda packages (%s) but none of micromamba, mamba or conda is "
                                  "on the host's PATH" % (label, ", ".join(conda)))
                os.rmdir(build)
                argv = [tool, "create", "-y", "-p", build]
                for c in py.get("channels") or []:
                    argv += ["-c", c]
                if not any(re.split(r"[<>=!~ \[]", p, 1)[0].lower() == "python" for p in conda):
                    argv.append("python=%s" % py["version"] if py.get("version") else "python")
                run_step("creating the conda environment", argv + list(conda), label, root)
                base = tool
            else:
                base = find_python(py.get("version"))
                run_step("creating the virtual environment", [base, "-m", "venv", build], label, root)
            bpy = os.path.join(build, "bin", "python")
            if py.get("pip_packages"):
                run_step("pip install", [bpy, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
                         + list(py["pip_packages"]), label, root)
            info = {"format_version": "1.0", "digest": digest, "label": label, "definition": d,
                    "python": os.path.join(envdir, "bin", "python"),
                    "python_version": ".".join(map(str, python_version_of(bpy) or ())) or None,
                    "built_with": "conda" if conda else "venv", "base_interpreter": base, "build_dir": build,
                    "built_at": now_rfc3339()}
            write_atomic(os.path.join(build, "env.json"), (json.dumps(info, indent=2) + "\n").encode(), 0o644)
            tmp = envdir + ".tmp"
            try:
                os.unlink(tmp)
            except OSError:
                pass
            os.symlink(os.path.basename(build), tmp)
            os.rename(tmp, envdir)
            log("environment %s ready: %s" % (label, envdir))
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return os.path.join(envdir, "bin", "python"), envdir, False
    finally:
        os.close(lockfd)


# ---------------------------------------------------------------- stage (+ start / sbatch)

def a_stage(req, inp):
    wd = work_dir_of(req)
    os.makedirs(wd, 0o700, exist_ok=True)
    receive_objects(wd, req.get("blobs") or [], inp)
    if req.get("expect_work_dir") and req["expect_work_dir"] != wd:
        return {"ok": False, "stale": "work_dir", "work_dir": wd}
    files = req.get("files") or []
    missing = sorted(set(f[2] for f in files if not object_intact(wd, f[2], f[3])))
    if missing:
        return {"ok": False, "missing": missing, "work_dir": wd}
    # without "env" (a Slurm target's user-managed environment) the interpreter
    # is the one the nodes find, not one this host resolves
    python, prefix, reused = ensure_env(wd, req["env"]) if req.get("env") else (None, None, False)
    if req.get("expect_python") and req["expect_python"] != python:
        return {"ok": False, "stale": "python", "python": python, "work_dir": wd}
    run_dir = run_dir_of(req)
    os.makedirs(os.path.join(wd, "runs"), 0o700, exist_ok=True)
    try:
        os.mkdir(run_dir, 0o700)
    except FileExistsError:
        raise Refused("the run's folder %s exists already on the host" % run_dir)
    checkout(wd, files, os.path.join(run_dir, "wd"))
    for sub in ("outputs", "logs"):
        os.makedirs(os.path.join(run_dir, "wd", sub), 0o755, exist_ok=True)
    resp = {"ok": True, "work_dir": wd, "run_dir": run_dir, "python": python, "env_prefix": prefix,
            "env_reused": reused}
    if req.get("job_script") is not None:
        path = os.path.join(run_dir, "job.sh")
        write_atomic(path, req["job_script"].encode("utf-8"), 0o700)
    if req.get("record") is not None:
        rec = req["record"]
        rec["status"] = "Preparing"
        save_record(run_dir, rec)
        resp["record"] = start(run_dir, req.get("secrets") or {})
    if req.get("sbatch"):
        env = dict(os.environ)
        env.update(req.get("secrets") or {})
        p = subprocess.run(req["sbatch"], cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        resp["sbatch"] = {"rc": p.returncode, "out": p.stdout.decode("utf-8", "replace"),
                          "err": p.stderr.decode("utf-8", "replace")}
    return resp


def start(run_dir, secrets):
    """Forks the supervisor (detached: its own session, stdio on /dev/null)
    and waits until it reports the run started."""
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            code = supervise(run_dir, w, secrets)
        except BaseException:
            pass
        os._exit(code)
    os.close(w)
    os.waitpid(pid, 0)
    got = b""
    deadline = time.time() + 30
    while time.time() < deadline:
        ready, _, _ = select.select([r], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        got = os.read(r, 1)
        break
    os.close(r)
    rec = load_json(os.path.join(run_dir, "run.json"))
    if got != b"S" and rec.get("status") not in TERMINAL:
        rec["status"] = "Failed"
        rec["error"] = rec.get("error") or "the supervisor did not report back"
    return rec


# ---------------------------------------------------------------- the supervisor

def list_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(filenames):
            full = os.path.join(dirpath, n)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            out.append({"path": os.path.relpath(full, root), "size": st.st_size})
            if len(out) >= 10000:
                return out
    return out


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 16), b""))
    except OSError:
        return 0


def finish(run_dir, rec, status, exit_code, error):
    rec["ended_at"] = now_rfc3339()
    if exit_code is not None and exit_code >= 0:
        rec["exit_code"] = exit_code
    if error:
        rec["error"] = error
    wd = os.path.join(run_dir, "wd")
    rec["outputs"] = list_files(os.path.join(wd, "outputs"))
    rec["logs"] = list_files(os.path.join(wd, "logs"))
    rec["metrics_count"] = count_lines(os.path.join(run_dir, "metrics.jsonl"))
    rec["status"] = status
    rec["status_updated_at"] = now_rfc3339()
    save_record(run_dir, rec)


def child_exec(p, cwd, logfd, pgid, env_base, path_prepend):
    try:
        os.setpgid(0, pgid)
        for s in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(logfd, 1)
        os.dup2(logfd, 2)
        os.chdir(cwd)
        env = dict(env_base)
        env.update(p.get("env") or {})
        if path_prepend:
            env["PATH"] = ":".join(path_prepend + [env.get("PATH") or "/usr/local/bin:/usr/bin:/bin"])
        if os.geteuid() == 0:
            # Open MPI refuses root without these; runs here are the user's own
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        argv = p["argv"]
        os.execvpe(argv[0], argv, env)
    except BaseException as e:
        try:
            os.write(2, ("amlspec: cannot start %s: %s\n" % (p.get("argv", ["?"])[0], e)).encode())
        except OSError:
            pass
    os._exit(127)


def supervise(run_dir, notify_fd, secrets):
    lockfd = os.open(os.path.join(run_dir, "supervisor.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 1  # another supervisor watches this run
    os.write(lockfd, b"%d\n" % os.getpid())
    rec = load_json(os.path.join(run_dir, "run.json"))
    for s in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(s, signal.SIG_IGN)
    cwd = rec.get("cwd")
    timeout = int(rec.get("timeout_seconds") or 30 * 86400)
    plist = rec.get("processes") or []
    if not cwd or not plist:
        finish(run_dir, rec, "Failed", None, "the run record has nothing to start")
        return 0
    try:
        logfd = os.open(os.path.join(run_dir, "driver.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        finish(run_dir, rec, "Failed", None, "cannot open driver.log")
        return 0
    env_base = dict(os.environ)
    env_base.update(secrets)
    path_prepend = rec.get("path_prepend") or []
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    procs = []
    pgid = 0
    for p in plist:
        try:
            pid = os.fork()
        except OSError:
            if pgid:
                os.killpg(pgid, signal.SIGKILL)
            finish(run_dir, rec, "Failed", None, "cannot start the run's process (fork failed)")
            return 0
        if pid == 0:
            child_exec(p, cwd, logfd, pgid, env_base, path_prepend)
        try:
            os.setpgid(pid, pgid or pid)  # also here: no race with killpg
        except OSError:
            pass
        if not pgid:
            pgid = pid
        procs.append({"pid": pid, "status": None})
    os.close(logfd)
    rec["started_at"] = now_rfc3339()
    rec["pid"] = procs[0]["pid"]
    rec["pgid"] = pgid
    rec["supervisor_pid"] = os.getpid()
    rec["status"] = "Running"
    rec["status_updated_at"] = now_rfc3339()
    save_record(run_dir, rec)
    try:
        os.write(notify_fd, b"S")
        os.close(notify_fd)
    except OSError:
        pass

    deadline = time.time() + timeout
    kill_at = 0
    timed_out = failed_one = False
    alive = len(procs)
    first_bad = 0
    while alive:
        left = deadline - time.time()
        wait = 1.0 if timed_out else max(0.01, min(1.0, left))
        signal.sigtimedwait([signal.SIGCHLD], wait)
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            for p in procs:
                if p["pid"] == pid and p["status"] is None:
                    p["status"] = st
                    alive -= 1
                    code = os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)
                    if code and not first_bad:
                        first_bad = code
                    if code and alive and not failed_one:
                        # one process of a distributed run failed: stop the others
                        failed_one = True
                        try_killpg(pgid, signal.SIGTERM)
                        kill_at = time.time() + KILL_GRACE
        if not timed_out and time.time() >= deadline:
            timed_out = True
            try_killpg(pgid, signal.SIGTERM)
            kill_at = time.time() + KILL_GRACE
        if kill_at and time.time() >= kill_at:
            try_killpg(pgid, signal.SIGKILL)
            kill_at = 0
    # leftovers the script started in its group do not outlive the run
    try_killpg(pgid, signal.SIGKILL)

    st0 = procs[0]["status"]
    code = os.WEXITSTATUS(st0) if os.WIFEXITED(st0) else 128 + os.WTERMSIG(st0)
    if first_bad:
        code = first_bad
    rec["status"] = "Finalizing"
    if os.path.exists(os.path.join(run_dir, "cancel.request")):
        finish(run_dir, rec, "Canceled", code, "canceled by request")
    elif timed_out:
        finish(run_dir, rec, "Failed", code, "timed out after %ds (limits.timeout)" % timeout)
    elif code == 0:
        finish(run_dir, rec, "Completed", 0, None)
    elif not os.WIFEXITED(st0) and not first_bad:
        finish(run_dir, rec, "Failed", code, "killed by signal %d" % os.WTERMSIG(st0))
    else:
        finish(run_dir, rec, "Failed", code, "exited with code %d" % code)
    return 0


def try_killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass


# ---------------------------------------------------------------- poll, logs, cancel

def supervisor_alive(run_dir):
    try:
        fd = os.open(os.path.join(run_dir, "supervisor.lock"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops a lock taken just now
    return False


def current_record(run_dir):
    rec = load_json(os.path.join(run_dir, "run.json"))
    if rec.get("status") in TERMINAL:
        return rec
    if not supervisor_alive(run_dir):
        rec = load_json(os.path.join(run_dir, "run.json"))  # it may have finished meanwhile
        if rec.get("status") in TERMINAL:
            return rec
        if rec.get("status") in ("NotStarted", "Preparing"):
            rec["error"] = "the run was never started (the command that prepared it stopped)"
        else:
            rec["error"] = "the supervisor process died; the run's outcome is unknown"
        rec["status"] = "Failed"
        rec["lost"] = True
        rec["ended_at"] = now_rfc3339()
        rec["status_updated_at"] = now_rfc3339()
        save_record(run_dir, rec)
        return rec
    if os.path.exists(os.path.join(run_dir, "cancel.request")):
        rec["status"] = "CancelRequested"
    return rec


def read_from(path, offset, limit):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(limit)
    except OSError:
        return b""


def a_poll(req, inp):
    """The run's record (ssh runs), then the driver log from log_offset; the
    record is read first so that a terminal record comes with the whole log."""
    run_dir = run_dir_of(req)
    rec = None
    if not os.path.isdir(run_dir):
        return {"ok": False, "gone": True, "error": "the run's folder %s is gone from the host" % run_dir}
    if req.get("record", True):
        if not os.path.exists(os.path.join(run_dir, "run.json")):
            return {"ok": False, "gone": True, "error": "the run's folder %s is gone from the host" % run_dir}
        rec = current_record(run_dir)
    payload = []
    resp = {"ok": True, "record": rec}
    if req.get("log_offset") is not None:
        data = read_from(os.path.join(run_dir, "driver.log"), int(req["log_offset"]), int(req.get("log_max", 4 << 20)))
        payload.append(("log", data))
        resp["log_size"] = os.path.getsize(os.path.join(run_dir, "driver.log")) \
            if os.path.exists(os.path.join(run_dir, "driver.log")) else 0
    final = rec is None or rec.get("status") in TERMINAL
    if req.get("metrics") and final:
        payload.append(("metrics", read_from(os.path.join(run_dir, "metrics.jsonl"), 0, 64 << 20)))
    if req.get("lists") and final:
        resp["outputs"] = list_files(os.path.join(run_dir, "wd", "outputs"))
        resp["logs"] = list_files(os.path.join(run_dir, "wd", "logs"))
        resp["metrics_count"] = count_lines(os.path.join(run_dir, "metrics.jsonl"))
    resp["payload"] = [[n, len(d)] for n, d in payload]
    return resp, b"".join(d for n, d in payload)


def a_follow(req, inp):
    """Streams driver.log from log_offset as it grows, until the run ends
    (ssh: its record is terminal; slurm: amlspec stops reading)."""
    run_dir = run_dir_of(req)
    path = os.path.join(run_dir, "driver.log")
    off = int(req.get("log_offset") or 0)
    out = sys.stdout.buffer
    with_record = req.get("record", True)
    while True:
        ended = with_record and current_record(run_dir).get("status") in TERMINAL
        while True:
            data = read_from(path, off, 1 << 20)
            if not data:
                break
            out.write(data)
            out.flush()
            off += len(data)
        if ended:
            return None
        time.sleep(0.2)


def a_cancel(req, inp):
    run_dir = run_dir_of(req)
    rec = current_record(run_dir)
    if rec.get("status") in TERMINAL:
        return {"ok": False, "ended": True, "record": rec}
    write_atomic(os.path.join(run_dir, "cancel.request"), now_rfc3339().encode(), 0o600)
    pgid = int(rec.get("pgid") or 0)
    if pgid > 1:
        try_killpg(pgid, signal.SIGTERM)
    deadline = time.time() + float(req.get("grace", 10))
    killed = False
    while True:
        rec = current_record(run_dir)
        if rec.get("status") in TERMINAL:
            return {"ok": True, "record": rec}
        if time.time() > deadline:
            if killed:
                return {"ok": False, "error": "run %s did not stop" % rec.get("run_id"), "record": rec}
            if pgid > 1:
                try_killpg(pgid, signal.SIGKILL)
            killed = True
            deadline = time.time() + KILL_GRACE
        time.sleep(0.05)


def a_exists(req, inp):
    return {"ok": True, "exists": [os.path.exists(os.path.expanduser(p)) for p in req.get("paths") or []]}


ACTIONS = {"hello": a_hello, "stage": a_stage, "poll": a_poll, "follow": a_follow, "cancel": a_cancel,
           "exists": a_exists}


def serve():
    """Answers requests until stdin ends: one call per process (a "follow"),
    or a session that serves a whole amlspec command."""
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    while True:
        line = inp.readline()
        if not line:
            return
        payload = b""
        broken = False
        try:
            req = json.loads(line.decode("utf-8"))
            act = ACTIONS.get(req.get("action"))
            if not act:
                raise Refused("unknown action %r (runner protocol %d)" % (req.get("action"), PROTOCOL))
            resp = act(req, inp)
            if resp is None:
                continue
            if isinstance(resp, tuple):
                resp, payload = resp
        except Exception as e:  # report, do not hide: the message reaches the user
            resp = {"ok": False, "error": str(e) if isinstance(e, Refused) else "%s: %s" % (type(e).__name__, e)}
            # the request's payload may be half read: this stream is done
            broken = True
            resp["closing"] = True
        out.write(json.dumps(resp).encode("utf-8") + b"\n")
        out.write(payload)
        out.flush()
        if broken:
            return


serve()
