#!/usr/bin/env python3
"""wt benchmark driver (`make bench`).

    python3 bench/bench.py [SECTION...]

Runs each section in SECTIONS (or only those named: a section is named by the start of its
title, e.g. `parse` or `delivery`) and prints its table. Environment:
  WT_DELIVER     wt-deliver binary (default .build/release/wt-deliver)
  WT_ADMIN       wt-admin binary (default: beside WT_DELIVER; optional)
  BENCH_ROUNDS   timed rounds per command; the median is reported
                 (default 7 for parse throughput, 15 for delivery time)
"""
import base64
import os
import random
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
MBOXES = ["mixed.mbox", "headers.mbox"]
GMIME = OUT / "gmime-parse"


def die(msg, code=1):
    sys.stdout.flush()
    print("bench: " + msg, file=sys.stderr)
    sys.exit(code)


def stale(target, *sources):
    return not target.exists() or any(s.stat().st_mtime > target.stat().st_mtime for s in sources)


def show(cmd, redirect=""):
    print("  $ " + shlex.join(str(c) for c in cmd) + redirect, flush=True)


def ensure_inputs():
    OUT.mkdir(parents=True, exist_ok=True)
    gen = BENCH / "gen_mbox.py"
    if any(stale(OUT / m, gen) for m in MBOXES):
        cmd = [sys.executable, gen, OUT]
        show(cmd)
        subprocess.run(cmd, check=True)
    src = BENCH / "gmime-parse.c"
    if stale(GMIME, src):
        try:
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gmime-3.0"],
                                   check=True, capture_output=True, text=True).stdout.split()
        except (OSError, subprocess.CalledProcessError):
            die("GMime 3 development files not found; run `make bench-deps`", 2)
        cmd = ["cc", "-O2", "-o", GMIME, src] + flags
        show(cmd)
        subprocess.run(cmd, check=True)


def timed(cmd, capture=False):
    """Wall time of one run; stdout goes to /dev/null unless captured."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        die("command failed (exit %d): %s\n%s" % (p.returncode, shlex.join(map(str, cmd)),
                                                 p.stderr.strip()))
    return elapsed, (p.stdout or "").strip()


# ---- sections ---------------------------------------------------------

def parse_throughput(ctx):
    ensure_inputs()
    rounds = ctx["rounds"] or 7
    print("Commands (stdout discarded), %d alternating rounds, median wall time:" % rounds)
    show([ctx["wt"], "--explain", "--mbox", "FILE"], " > /dev/null")
    show([GMIME, "FILE"])
    rows = []
    for name in MBOXES:
        path = OUT / name
        mb = path.stat().st_size / 1e6
        wt_cmd = [ctx["wt"], "--explain", "--mbox", path]
        gm_cmd = [GMIME, path]
        wt_t, gm_t = [], []
        for _ in range(rounds):  # alternate so drift in machine load hits both equally
            wt_t.append(timed(wt_cmd)[0])
            t, counts = timed(gm_cmd, capture=True)
            gm_t.append(t)
        wt_rate = mb / statistics.median(wt_t)
        gm_rate = mb / statistics.median(gm_t)
        rows.append((name, mb, wt_rate, gm_rate, wt_rate / gm_rate, counts))
    print()
    print("%-14s %8s %16s %12s %10s" % ("mbox", "size MB", "wt-deliver MB/s", "GMime MB/s",
                                        "wt/GMime"))
    for name, mb, wt_rate, gm_rate, ratio, _ in rows:
        print("%-14s %8.1f %16.1f %12.1f %10.2f" % (name, mb, wt_rate, gm_rate, ratio))
    print()
    for name, *_, counts in rows:
        print("gmime-parse %s: %s" % (name, counts))


# ---- delivery time ----------------------------------------------------
#
# One process per message, as Postfix's pipe(8) starts it, the message written to its stdin
# through a pipe. Every contender gets its own database, created and warmed up before
# anything is timed; every timed run delivers a message no database has seen (the run number
# is in its Message-ID, Subject and Date, and the attachment bytes differ per run).

DELIVERY = OUT / "delivery"
FLOOR = OUT / "floor"
VENV = OUT / "venv"
ROUNDUP = "roundup==2.6.0"
RULES = 50
SENDER = "alice.martin@example.org"
RECIPIENT = "helpdesk@example.com"
SMALL_ROUNDS = 15
BIG_ATTACHMENT = 50 << 20
# Child processes write Python byte-code caches as on a normal install (this machine's
# environment may turn that off for everything).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

WORDS = ("the ticket server please update account order printer network access report error "
         "screen login password meeting invoice budget team project deadline urgent question "
         "thanks regards status floor office laptop monitor cable restart again since monday").split()


def _text(rng, chars, width=72):
    lines, line, total = [], [], 0
    while total < chars:
        w = rng.choice(WORDS)
        line.append(w)
        total += len(w) + 1
        if sum(len(x) + 1 for x in line) > width:
            lines.append(" ".join(line))
            line = []
    lines.append(" ".join(line))
    return "\n".join(lines) + "\n"


def _headers(n, subject, content_type):
    day = 1 + n % 28
    rng = random.Random(n)
    hops = "".join(
        "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\n"
        "\tby mail.example.com (Postfix) with ESMTPS id %08X\n"
        "\tfor <%s>; %d Nov 2025 10:%02d:%02d +0000\n"
        % (i, i, 10 + i, rng.getrandbits(32), RECIPIENT, day, n % 60, i) for i in range(3))
    sig = base64.b64encode(rng.randbytes(256)).decode()
    return (
        "Return-Path: <%s>\n%s"
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=mail;\n"
        "\th=from:to:subject:date:message-id; bh=%s;\n\tb=%s\n"
        "Authentication-Results: mail.example.com; dkim=pass header.d=example.org;\n"
        "\tspf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org\n"
        "From: Alice Martin <%s>\n"
        "To: Help Desk <%s>\n"
        "Subject: %s\n"
        "Date: %d Nov 2025 10:%02d:%02d +0000\n"
        "Message-ID: <bench-%d-%08x@example.org>\n"
        "X-Bench-Run: %d\n"
        "MIME-Version: 1.0\n"
        "Content-Type: %s\n"
        % (SENDER, hops, base64.b64encode(rng.randbytes(32)).decode(), "\n\t".join(
            sig[i:i + 70] for i in range(0, len(sig), 70)), SENDER, RECIPIENT, subject, day,
           n % 60, n % 59, n, rng.getrandbits(32), n, content_type))


def small_message(n):
    """About 3 KB: a realistic header block and a 1.6 KB text/plain body."""
    body = _text(random.Random(-n), 1600)
    return (_headers(n, "Printer on floor 3 jams again (run %d)" % n, "text/plain; charset=utf-8")
            + "Content-Transfer-Encoding: 8bit\n\n" + body).encode()


def attachment_message(n, size):
    """A short text/plain body and one base64 application/pdf attachment of `size` bytes."""
    boundary = "=-bench-%d-boundary" % n
    data = random.Random(n).randbytes(size)
    return b"".join([
        _headers(n, "Scanned invoice attached (run %d)" % n,
                 'multipart/mixed; boundary="%s"' % boundary).encode(),
        b"\nThis is a multi-part message in MIME format.\n\n",
        b"--%s\nContent-Type: text/plain; charset=utf-8\n\n" % boundary.encode(),
        _text(random.Random(-n), 500).encode(),
        b"\n--%s\nContent-Type: application/pdf; name=\"invoice-%d.pdf\"\n"
        b"Content-Disposition: attachment; filename=\"invoice-%d.pdf\"\n"
        b"Content-Transfer-Encoding: base64\n\n" % (boundary.encode(), n, n),
        base64.encodebytes(data),
        b"--%s--\n" % boundary.encode(),
    ])


def run_fed(cmd, data, env=CHILD_ENV):
    """Runs cmd with data on a pipe to its stdin. Returns (seconds, rusage); dies on failure."""
    with open(os.devnull, "wb") as null, open(DELIVERY / "stderr.txt", "w+b") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE if isinstance(data, bytes) else data,
                             stdout=null, stderr=err, env=env)
        feeder = None
        if isinstance(data, bytes):
            def feed():
                try:
                    p.stdin.write(data)
                except BrokenPipeError:
                    pass
                finally:
                    try:
                        p.stdin.close()
                    except BrokenPipeError:
                        pass
            if len(data) <= 64 * 1024:
                feed()  # fits in the pipe buffer: no thread needed
            else:
                feeder = threading.Thread(target=feed)
                feeder.start()
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if feeder:
            feeder.join()
        if p.returncode != 0:
            err.seek(0)
            die("delivery failed (exit %d): %s\n%s" % (p.returncode, shlex.join(map(str, cmd)),
                                                     err.read().decode(errors="replace").strip()))
    return elapsed, usage


def sql_count(db, sql):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def load_rules(db):
    """50 enabled rules, none of which matches the benchmark's messages."""
    con = sqlite3.connect(db, timeout=30)
    now = int(time.time())
    with con:
        con.executemany(
            "INSERT INTO rules (name, text_to_match, ticket_type_id, priority, priority_order, enabled, created_at)"
            " VALUES (?, ?, 1, ?, ?, 1, ?)",
            [("bench rule %02d" % i, "no-such-phrase-%02d" % i, ("Low", "Medium", "High", "Urgent")[i % 4], i, now)
             for i in range(RULES)])
        # wt keeps its compiled rules for this counter; a change made behind its back must bump it.
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            con.execute("UPDATE meta SET value = value + 1 WHERE key = 'rules_version'")
    con.close()


def build_floor():
    src = BENCH / "floor.c"
    if stale(FLOOR, src):
        cmd = ["cc", "-O2", "-o", FLOOR, src, "-lsqlite3"]
        show(cmd)
        if subprocess.run(cmd).returncode != 0:
            die("cannot build %s (SQLite development files missing? run `make bench-deps`)" % src.name, 2)


def ensure_roundup():
    """Roundup in its own virtual environment; returns None, or why it is not there."""
    if (VENV / "bin" / "roundup-mailgw").exists():
        return None
    for cmd in ([sys.executable, "-m", "venv", VENV], [VENV / "bin" / "pip", "install", "-q", ROUNDUP]):
        show(cmd)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            return "%s failed: %s" % (shlex.join(map(str, cmd[:3])), ((p.stderr or p.stdout).strip().splitlines() or ["?"])[-1])
    return None


def roundup_version():
    p = subprocess.run([VENV / "bin" / "python", "-c", "import roundup; print(roundup.__version__)"],
                       capture_output=True, text=True)
    return p.stdout.strip() or "?"


def make_tracker(home):
    admin = VENV / "bin" / "roundup-admin"
    opts = "mail_domain=example.com,mail_host=localhost,tracker_web=http://localhost:8080/,mail_debug=sent-mail.txt"
    for args in (["install", "classic", "sqlite", opts], ["initialise", "bench-admin-password"]):
        p = subprocess.run([admin, "-i", home] + args, capture_output=True, text=True, env=CHILD_ENV)
        if p.returncode != 0:
            die("roundup-admin %s failed:\n%s%s" % (args[0], p.stdout, p.stderr))
        if args[0] == "install":
            # Unknown senders may mail in (and are registered then): the classic template has
            # this line commented out, against spam.
            schema = home / "schema.py"
            text = schema.read_text()
            line = "db.security.addPermissionToRole('Anonymous', 'Email Access')"
            if "#" + line not in text:
                die("roundup's classic schema.py has changed: cannot let anonymous mail in")
            schema.write_text(text.replace("#" + line, line))


class Contender:
    def __init__(self, key, label, cmd, create, count, attachments=None):
        self.key, self.label = key, label
        self.cmd, self.create, self.count, self.attachments = cmd, create, count, attachments
        self.python = None


def delivery_contenders(ctx):
    wt, admin = ctx["wt"], ctx.get("admin")
    pyexe = Path("/usr/bin/python3") if Path("/usr/bin/python3").exists() else Path(sys.executable)
    pyver = subprocess.run([pyexe, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                           capture_output=True, text=True).stdout.strip()
    tickets = "SELECT count(*) FROM tickets"
    files = "SELECT count(*) FROM attachments"

    def wt_create(db):
        if admin:
            subprocess.run([admin, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
        else:
            run_fed(wt_cmd(db), small_message(-1))
        load_rules(db)

    def wt_cmd(db):
        return [wt, "--db", db, "-f", SENDER, "--", RECIPIENT]

    def py_cmd(db):
        return [pyexe, BENCH / "py_deliver.py", "--db", db, "-f", SENDER, "--", RECIPIENT]

    def py_create(db):
        run_fed(py_cmd(db), small_message(-1))
        load_rules(db)

    out = [
        Contender("floor", "floor (C, libsqlite3)", lambda db: [FLOOR, db],
                  lambda db: subprocess.run([FLOOR, "--init", db], check=True),
                  lambda db: sql_count(db, "SELECT count(*) FROM raw")),
        Contender("wt", "wt-deliver", wt_cmd, wt_create, lambda db: sql_count(db, tickets),
                  lambda db: sql_count(db, files)),
        Contender("py", "py_deliver.py (python %s)" % pyver, py_cmd, py_create,
                  lambda db: sql_count(db, tickets), lambda db: sql_count(db, files)),
    ]
    out[2].python = pyexe
    why = ensure_roundup()
    if why:
        print("roundup: skipped, %s" % why)
    else:
        out.append(Contender(
            "roundup", "roundup-mailgw %s" % roundup_version(),
            lambda home: [VENV / "bin" / "roundup-mailgw", home], make_tracker,
            lambda home: sql_count(home / "db" / "db", "SELECT count(*) FROM _issue"),
            lambda home: sql_count(home / "db" / "db", "SELECT count(*) FROM _file")))
    return out


def delivery_time(ctx):
    rounds = ctx["rounds"] or SMALL_ROUNDS
    shutil.rmtree(DELIVERY, ignore_errors=True)
    DELIVERY.mkdir(parents=True)
    build_floor()
    contenders = delivery_contenders(ctx)
    kinds = [("small", "small, plain", small_message),
             ("1mib", "1 MiB attachment", lambda n: attachment_message(n, 1 << 20))]

    # Databases: created, rules loaded, one delivery of each kind, none of it timed.
    where, base = {}, {}
    for c in contenders:
        for kind, _, make in kinds:
            db = DELIVERY / ("%s-%s%s" % (c.key, kind, "" if c.key == "roundup" else ".db"))
            c.create(db)
            run_fed(c.cmd(db), make(0))
            where[c.key, kind] = db
            base[c.key, kind] = (c.count(db), c.attachments(db) if c.attachments else 0)
    sizes = {kind: len(make(1)) for kind, _, make in kinds}

    print("One process per message, the message on a pipe to its stdin; %d rounds, the contenders" % rounds)
    print("alternating (the order rotates every round); median wall time per delivery:")
    for c in contenders:
        show(c.cmd(Path("DB" if c.key != "roundup" else "TRACKER")), " < message")
    print("py_deliver.py runs on %s; roundup on %s (%s)." % (
        contenders[2].python, VENV / "bin" / "python", sys.executable))
    print("wt-deliver and py_deliver.py see %d rules, none matching. Rounds:" % RULES, end="", flush=True)

    times, cpu = {}, {}
    load = os.getloadavg()[0]
    for r in range(1, rounds + 1):
        print(" %d" % r, end="", flush=True)
        for kind, _, make in kinds:
            data = make(r)
            k = r % len(contenders)
            for c in contenders[k:] + contenders[:k]:
                t, usage = run_fed(c.cmd(where[c.key, kind]), data)
                times.setdefault((c.key, kind), []).append(t)
                cpu.setdefault((c.key, kind), []).append(usage.ru_utime + usage.ru_stime)
    print()

    # Every delivery must have stored something: the table is void otherwise.
    for c in contenders:
        for kind, _, _ in kinds:
            db = where[c.key, kind]
            items, files = base[c.key, kind]
            if c.count(db) != items + rounds:
                die("%s: %d items in %s, expected %d" % (c.label, c.count(db), db, items + rounds))
            if c.attachments and kind != "small" and c.attachments(db) != files + rounds:
                die("%s: %d attachments in %s, expected %d" % (c.label, c.attachments(db), db, files + rounds))
    print("Checked: every timed run stored its message (as a row, a ticket or an issue) and its attachment.")

    med = {key: statistics.median(v) * 1000 for key, v in times.items()}
    cpu = {key: statistics.median(v) * 1000 for key, v in cpu.items()}
    print()
    head1 = "%-30s" % ""
    head2 = "%-30s" % "contender"
    for kind, title, _ in kinds:
        head1 += " | %-33s" % ("%s, %s" % (title, human(sizes[kind])))
        head2 += " | %8s %7s %8s %7s" % ("wall ms", "x floor", "CPU ms", "x floor")
    print(head1)
    print(head2)
    for c in contenders:
        line = "%-30s" % c.label
        for kind, _, _ in kinds:
            line += " | %8.2f %7.2f %8.2f %7.2f" % (med[c.key, kind], med[c.key, kind] / med["floor", kind],
                                                   cpu[c.key, kind], cpu[c.key, kind] / cpu["floor", kind])
        print(line)
    if max(load, os.getloadavg()[0]) > 0.7:
        print("Warning: load average %.2f before the rounds, %.2f after: something else is running, and the wall"
              % (load, os.getloadavg()[0]))
        print("times include waiting for a CPU (and for its disk writes). CPU ms holds up better.")

    wt_s, wt_b = med["wt", "small"], med["wt", "1mib"]
    r_s, r_b = wt_s / med["floor", "small"], wt_b / med["floor", "1mib"]
    print()
    print("Goals: small message within 1.3x the floor and under 3 ms: %.2fx, %.2f ms: %s"
          % (r_s, wt_s, "met" if r_s <= 1.3 and wt_s < 3 else "NOT met"))
    print("       1 MiB attachment within 1.3x the floor: %.2fx: %s" % (r_b, "met" if r_b <= 1.3 else "NOT met"))

    peak_memory(ctx, contenders)


def human(n):
    return "%.1f KB" % (n / 1e3) if n < 1e6 else "%.2f MB" % (n / 1e6)


def max_rss(cmd, data):
    """Peak resident memory of cmd in bytes, from /usr/bin/time (GNU time).

    Not from wait4 here: a child forked from this Python process starts with this process's
    resident pages counted as its own, which would hide anything smaller than them."""
    out = DELIVERY / "time.txt"
    t, _ = run_fed(["/usr/bin/time", "-f", "%M", "-o", out] + cmd, data)
    return int(out.read_text().split()[-1]) * 1024, t


def peak_memory(ctx, contenders):
    """Max RSS of one delivery of a message with a 50 MiB attachment, into a fresh database."""
    print()
    if not os.access("/usr/bin/time", os.X_OK):
        print("Peak memory: skipped, /usr/bin/time (GNU time) is missing; run `make bench-deps`.")
        return
    wt = next(c for c in contenders if c.key == "wt")
    floor = next(c for c in contenders if c.key == "floor")
    data = attachment_message(1001, BIG_ATTACHMENT)
    path = DELIVERY / "big.eml"
    path.write_bytes(attachment_message(1002, BIG_ATTACHMENT))
    rows = []
    for c, how in ((wt, "pipe"), (wt, "file"), (floor, "pipe")):
        db = DELIVERY / ("%s-50mib-%s.db" % (c.key, how))
        c.create(db)
        if how == "pipe":
            rss, t = max_rss(c.cmd(db), data)
        else:
            with open(path, "rb") as f:
                rss, t = max_rss(c.cmd(db), f)
        rows.append((c.label, how, rss, t * 1000))
    print("Peak memory, one delivery of a message with a %d MiB attachment (raw message %d bytes, %.1f MiB),"
          % (BIG_ATTACHMENT >> 20, len(data), len(data) / 2**20))
    print("max RSS from /usr/bin/time; stdin a pipe (as from Postfix) or a regular file:")
    print("%-30s %6s %12s %14s %10s" % ("contender", "stdin", "max RSS MiB", "RSS / message", "wall ms"))
    for label, how, rss, ms in rows:
        print("%-30s %6s %12.1f %13.2fx %10.0f" % (label, how, rss / 2**20, rss / len(data), ms))


RULE_COUNTS = (1, 100, 10_000)


def rule_scaling(ctx):
    """Delivery time with 1, 100 and 10,000 rules, none matching until the last."""
    wt, admin = ctx["wt"], ctx.get("admin")
    if not admin:
        die("the rules section needs wt-admin beside wt-deliver (or WT_ADMIN)", 2)
    rounds = ctx["rounds"] or SMALL_ROUNDS
    where = OUT / "rules"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    dbs = {}
    for n in RULE_COUNTS:
        db = where / ("rules-%d.db" % n)
        subprocess.run([admin, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
        con = sqlite3.connect(db)
        with con:
            # Rule texts that never occur, then one that matches the body of every message.
            con.executemany(
                "INSERT INTO rules (name, text_to_match, ticket_type_id, priority, priority_order, enabled, created_at)"
                " VALUES (?, ?, 1, 'Low', ?, 1, ?)",
                [("rule %05d" % i, "phrase %05d that never occurs" % i, i, i) for i in range(n - 1)]
                + [("the last rule", "printer on the third floor", n, n)])
            con.execute("UPDATE meta SET value = value + 1 WHERE key = 'rules_version'")
        con.close()
        dbs[n] = db

    def message(i):
        return small_message(i).replace(b"\n\n", b"\n\nThe printer on the third floor jams.\n", 1)

    for n in RULE_COUNTS:  # compiles and caches the rules, untimed
        run_fed([wt, "--db", dbs[n], "-f", SENDER, "--", RECIPIENT], message(0))
    print("wt-deliver, one process per small message, %d rounds alternating the three databases;" % rounds)
    print("in each, only the last rule matches (its text is in the body). Median wall and CPU time:")
    times, cpu = {}, {}
    for r in range(1, rounds + 1):
        data = message(r)
        order = list(RULE_COUNTS[r % 3:] + RULE_COUNTS[:r % 3])
        for n in order:
            t, usage = run_fed([wt, "--db", dbs[n], "-f", SENDER, "--", RECIPIENT], data)
            times.setdefault(n, []).append(t)
            cpu.setdefault(n, []).append(usage.ru_utime + usage.ru_stime)
    for n in RULE_COUNTS:
        hits = sql_count(dbs[n], "SELECT count(*) FROM tickets WHERE priority = 'Low'")
        if hits != rounds + 1:
            die("%d rules: %d tickets got the last rule's priority, expected %d" % (n, hits, rounds + 1))
    print("Checked: every ticket got the last rule's priority.")
    base_w, base_c = statistics.median(times[1]), statistics.median(cpu[1])
    print("%-10s %9s %9s %9s %9s" % ("rules", "wall ms", "x 1 rule", "CPU ms", "x 1 rule"))
    for n in RULE_COUNTS:
        w, c = statistics.median(times[n]), statistics.median(cpu[n])
        print("%-10d %9.2f %9.2f %9.2f %9.2f" % (n, w * 1000, w / base_w, c * 1000, c / base_c))
    ratio = statistics.median(times[10_000]) / base_w
    print("Goal: 10,000 rules at most 1.2 times 1 rule: %.2fx: %s" % (ratio, "met" if ratio <= 1.2 else "NOT met"))


LATE_TEXT = "please escalate this to the network operations centre at once"[:60]


def late_match(ctx):
    """A 20 MB message whose last line holds a 60-character rule text, against the same
    message with no match: finding where a rule matched must cost no more than matching."""
    wt, admin = ctx["wt"], ctx.get("admin")
    if not admin:
        die("the late match section needs wt-admin beside wt-deliver (or WT_ADMIN)", 2)
    rounds = ctx["rounds"] or 7
    where = OUT / "late"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    db = where / "late.db"
    DELIVERY.mkdir(parents=True, exist_ok=True)
    subprocess.run([admin, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([admin, "rules", "add", "late", "--text", LATE_TEXT, "--type", "General", "--priority", "Urgent",
                    "--order", "1", "--db", db], check=True, stdout=subprocess.DEVNULL)
    line = b"lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\n"
    filler = line * (20_000_000 // len(line))

    def message(i, last):
        head = ("From: Ann Example <ann@example.org>\nTo: %s\nSubject: late %d\nMessage-ID: <late-%d-%d@example.org>\n"
                "Content-Type: text/plain; charset=utf-8\n\n" % (RECIPIENT, i, i, time.time_ns())).encode()
        return head + filler + last + b"\n"

    match, nomatch = LATE_TEXT.upper().encode(), b"x" * len(LATE_TEXT)
    run_fed([wt, "--db", db, "-f", SENDER, "--", RECIPIENT], message(0, match))  # builds the rule index, untimed
    times = {"match": [], "no match": []}
    for r in range(1, rounds + 1):
        for kind, last in ([("match", match), ("no match", nomatch)] if r % 2 else [("no match", nomatch), ("match", match)]):
            t, _ = run_fed([wt, "--db", db, "-f", SENDER, "--", RECIPIENT], message(r, last))
            times[kind].append(t)
    urgent = sql_count(db, "SELECT count(*) FROM tickets WHERE priority = 'Urgent'")
    if urgent != rounds + 1:
        die("late match: %d tickets got the rule's priority, expected %d" % (urgent, rounds + 1))
    print("wt-deliver, one process per 20 MB message, %d rounds alternating; the rule text (60 characters)" % rounds)
    print("is on the last line, or absent. Checked: every matching message got the rule's priority.")
    m, n = statistics.median(times["match"]), statistics.median(times["no match"])
    print("%-10s %9s" % ("", "wall ms"))
    print("%-10s %9.1f\n%-10s %9.1f" % ("match", m * 1000, "no match", n * 1000))
    print("Goal: match at most 1.5 times no match: %.2fx: %s" % (m / n, "met" if m / n <= 1.5 else "NOT met"))


FOLLOW_TICKETS = 100_000


def follow_up(ctx):
    """A follow-up against a new ticket, in a database that already holds 100,000 tickets:
    threading must be index lookups, not scans."""
    wt, admin = ctx["wt"], ctx.get("admin")
    if not admin:
        die("the follow-up section needs wt-admin beside wt-deliver (or WT_ADMIN)", 2)
    rounds = ctx["rounds"] or SMALL_ROUNDS
    where = OUT / "follow-up"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    DELIVERY.mkdir(parents=True, exist_ok=True)
    db = where / "big.db"
    subprocess.run([admin, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
    con = sqlite3.connect(db)
    with con:
        n = FOLLOW_TICKETS
        con.executemany("INSERT INTO users (id, name, role, emails, created_at, origin) VALUES (?, ?, 'end_user', ?, 0, 'mail')",
                        [(i, "user%d@customer.example.org" % i, "user%d@customer.example.org" % i) for i in range(1, n // 10 + 1)])
        con.executemany("INSERT INTO user_addresses (address, user_id) VALUES (?, ?)",
                        [("user%d@customer.example.org" % i, i) for i in range(1, n // 10 + 1)])
        con.executemany("INSERT INTO raw_messages (id, received_at, size, sha256, data) VALUES (?, 0, 1, '', x'00')",
                        [(i,) for i in range(1, n + 1)])
        con.executemany("INSERT INTO tickets (id, subject, body, requester_id, ticket_type_id, priority, message_id, created_at, updated_at)"
                        " VALUES (?, ?, 'body', ?, 1, 'Medium', ?, 0, 0)",
                        [(i, "ticket %d" % i, i % (n // 10) + 1, "t%d@customer.example.org" % i) for i in range(1, n + 1)])
        con.executemany("INSERT INTO ticket_events (ticket_id, kind, author_id, raw_message_id, message_id, subject, body, created_at)"
                        " VALUES (?, 'created', ?, ?, ?, 'x', 'body', 0)",
                        [(i, i % (n // 10) + 1, i, "t%d@customer.example.org" % i) for i in range(1, n + 1)])
        con.executemany("INSERT INTO deliveries (key, raw_message_id, ticket_id, action, delivered_at) VALUES (?, ?, ?, 'created', 0)",
                        [("k%d" % i, i, i) for i in range(1, n + 1)])
    con.close()
    target = n // 2
    sender = "user%d@customer.example.org" % (target % (n // 10) + 1)

    def message(i, reply):
        extra = "In-Reply-To: <t%d@customer.example.org>\n" % target if reply else ""
        subject = ("Re: ticket %d" % target) if reply else ("new problem %d" % i)
        return ("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <f-%d-%d-%d@customer.example.org>\n%s"
                "Content-Type: text/plain; charset=utf-8\n\nThe printer on the third floor jams again.\n"
                % (sender, RECIPIENT, subject, i, int(reply), time.time_ns(), extra)).encode()

    for reply in (False, True):  # first deliveries, untimed
        run_fed([wt, "--db", db, "-f", sender, "--", RECIPIENT], message(0, reply))
    times = {"new ticket": [], "follow-up": []}
    cpu = {"new ticket": [], "follow-up": []}
    for r in range(1, rounds + 1):
        order = [("new ticket", False), ("follow-up", True)]
        for kind, reply in (order if r % 2 else order[::-1]):
            t, usage = run_fed([wt, "--db", db, "-f", sender, "--", RECIPIENT], message(r, reply))
            times[kind].append(t)
            cpu[kind].append(usage.ru_utime + usage.ru_stime)
    followups = sql_count(db, "SELECT count(*) FROM ticket_events WHERE ticket_id = %d AND kind = 'followup'" % target)
    if followups != rounds + 1:
        die("follow-up: %d follow-ups in ticket %d, expected %d" % (followups, target, rounds + 1))
    print("wt-deliver, one process per small message, %d rounds alternating, in a database of %d tickets;" % (rounds, n))
    print("the follow-up names a message of ticket %d by In-Reply-To, from its requester." % target)
    print("Checked: every follow-up landed in ticket %d." % target)
    new, fu = statistics.median(times["new ticket"]), statistics.median(times["follow-up"])
    cnew, cfu = statistics.median(cpu["new ticket"]), statistics.median(cpu["follow-up"])
    print("%-12s %9s %9s" % ("", "wall ms", "CPU ms"))
    print("%-12s %9.2f %9.2f\n%-12s %9.2f %9.2f" % ("new ticket", new * 1000, cnew * 1000, "follow-up", fu * 1000, cfu * 1000))
    print("Goal: a follow-up at most 1.1 times a new ticket: %.2fx wall, %.2fx CPU: %s"
          % (fu / new, cfu / cnew, "met" if fu / new <= 1.1 else "NOT met"))


NOTIFY_MAILS = 300
SMTP_SERVER = ROOT / "Tests" / "MailTransportTests" / "servers" / "smtp_server.py"


def notify_throughput(ctx):
    """Notifications per second over one SMTP connection to a local sink, against Python's
    smtplib sending the same mails (as wt-notify wrote them) over one connection."""
    wt, admin = ctx["wt"], ctx.get("admin")
    notify = wt.parent / "wt-notify"
    if not admin or not notify.exists():
        die("the notify section needs wt-admin and wt-notify beside wt-deliver", 2)
    if subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
        die("the notify section needs Debian's python3-aiosmtpd (apt-get install python3-aiosmtpd)", 2)
    rounds = ctx["rounds"] or 5
    where = OUT / "notify"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    DELIVERY.mkdir(parents=True, exist_ok=True)

    def sink(name):
        d = where / name
        d.mkdir()
        p = subprocess.Popen(["/usr/bin/python3", str(SMTP_SERVER), "--dir", str(d), "--parent", str(os.getpid())],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if (d / "port").exists():
                break
            time.sleep(0.05)
        return p, d, int((d / "port").read_text())

    db = where / "notify.db"
    subprocess.run([admin, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
    server, sinkdir, port = sink("wt")
    for k, v in (("smtp_server", "127.0.0.1"), ("smtp_port", str(port)), ("smtp_security", "none"),
                 ("email_technician_on_create", "false"), ("max_mails_per_recipient_per_day", "0"),
                 ("max_mails_per_ticket_per_hour", "0"), ("from_email", "helpdesk@example.com")):
        subprocess.run([admin, "settings", "set", k, v, "--db", db], check=True, stdout=subprocess.DEVNULL)
    for i in range(NOTIFY_MAILS):
        data = ("From: user%d@customer.example.org\nTo: %s\nSubject: notify %d\nMessage-ID: <n-%d@x>\n\nbody %d\n"
                % (i, RECIPIENT, i, i, i)).encode()
        run_fed([wt, "--db", db, "-f", "user%d@customer.example.org" % i, "--", RECIPIENT], data)
    subprocess.run([notify, "--once", "--db", db], check=True)  # expands the outbox; sends round 0, untimed
    mails = sorted(sinkdir.glob("*.eml"))
    if len(mails) != NOTIFY_MAILS:
        die("notify: %d mails arrived, expected %d" % (len(mails), NOTIFY_MAILS))
    prepared = [m.read_bytes() for m in mails]
    py = ("import smtplib, sys, pickle\nmails = pickle.load(open(sys.argv[2], 'rb'))\n"
          "s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))\n"
          "for i, m in enumerate(mails):\n    s.sendmail('helpdesk@example.com', ['user%d@customer.example.org' % i], m)\ns.quit()\n")
    import pickle
    with open(where / "mails.pickle", "wb") as f:
        pickle.dump(prepared, f)
    pyserver, _, pyport = sink("python")
    wt_times, py_times = [], []
    for r in range(rounds):
        sql_count(db, "SELECT 1")  # keeps the file warm
        con = sqlite3.connect(db)
        with con:
            con.execute("UPDATE notifications SET state = 'queued', sent_at = NULL, attempts = 0")
        con.close()
        t0 = time.perf_counter()
        subprocess.run([notify, "--once", "--db", db], check=True)
        wt_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", py, str(pyport), str(where / "mails.pickle")], check=True)
        py_times.append(time.perf_counter() - t0)
    server.kill()
    pyserver.kill()
    w, p = statistics.median(wt_times), statistics.median(py_times)
    print("%d notifications to an aiosmtpd sink on loopback, one connection, %d rounds alternating; median:" % (NOTIFY_MAILS, rounds))
    print("%-34s %9s %11s" % ("", "seconds", "mails/s"))
    print("%-34s %9.3f %11.0f" % ("wt-notify --once (reads, composes)", w, NOTIFY_MAILS / w))
    print("%-34s %9.3f %11.0f" % ("python smtplib (prepared mails)", p, NOTIFY_MAILS / p))
    print("Goal: wt-notify at or above smtplib: %.2fx: %s" % (p / w, "met" if w <= p else "NOT met"))


# ---- POP fetch ------------------------------------------------------------
#
# One pass over a mailbox of POP_MESSAGES messages on a real Dovecot on loopback (implicit TLS,
# the test CA of integration/popserver.py): `wt-deliver --pop`, one process for the pass,
# against fetchmail handing each message to `wt-deliver` through its MDA option. Both delete
# what they took, both verify the server's certificate, and each run starts from a freshly
# seeded Maildir (the same bytes for both) and a new database.

POP_MESSAGES = 1000


def pop_throughput(ctx):
    wt, admin = ctx["wt"], ctx.get("admin")
    if not admin:
        die("the pop section needs wt-admin beside wt-deliver", 2)
    for tool, package in (("/usr/sbin/dovecot", "dovecot-core"), ("/usr/lib/dovecot/pop3", "dovecot-pop3d")):
        if not os.path.exists(tool):
            die("the pop section needs %s (apt-get install %s, or `make bench-deps`)" % (tool, package), 2)
    if not shutil.which("fetchmail"):
        die("the pop section needs fetchmail (apt-get install fetchmail, or `make bench-deps`)", 2)
    sys.path.insert(0, str(ROOT / "integration"))
    import popserver
    rounds = ctx["rounds"] or 3
    where = OUT / "pop"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    pki = popserver.PKI(where / "pki")
    server = popserver.Dovecot(pki)
    try:
        mailbox = [popserver.make_message(i, "bench")[0] for i in range(POP_MESSAGES)]
        size = sum(len(m) for m in mailbox)
        pwfile = where / "password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(popserver.PASSWORD)
        home = where / "fetchmail-home"  # fetchmail's own files (.fetchids, its lock) go here
        home.mkdir()

        def fresh(name, count):
            server.clear()
            for m in mailbox[:count]:
                server.add(m)
            db = where / ("%s.db" % name)
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            subprocess.run([admin, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
            return db

        def wt_cmd(db):
            return [wt, "--pop", "--db", db, "--pop-host", "127.0.0.1:%d" % server.pop3s_port,
                    "--pop-security", "tls", "--pop-user", popserver.USER, "--pop-password-file", pwfile,
                    "--pop-ca-file", pki.ca, "--recipient", popserver.ADDRESS]

        def fetchmail_cmd(db):
            rc = where / "fetchmailrc"
            fd = os.open(rc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write('poll 127.0.0.1 service %d protocol pop3 auth password\n'
                        '  user "%s" password "%s"\n'
                        '  ssl sslcertck sslcertfile "%s" sslcommonname "localhost"\n'
                        '  no keep fetchall\n'
                        '  mda "%s --db %s -- %s"\n'
                        % (server.pop3s_port, popserver.USER, popserver.PASSWORD, pki.ca, wt, db, popserver.ADDRESS))
            return ["fetchmail", "-f", rc, "--nosyslog", "--silent", "--nodetach",
                    "--pidfile", where / "fetchmail.pid"]

        env = dict(CHILD_ENV, HOME=str(home))

        def one(name, make_cmd, count, ok_codes):
            db = fresh(name, count)
            cmd = make_cmd(db)
            t0 = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            elapsed = time.perf_counter() - t0
            if p.returncode not in ok_codes:
                die("%s failed (exit %d): %s\n%s" % (name, p.returncode, shlex.join(map(str, cmd)), p.stderr.strip()))
            tickets = sql_count(db, "SELECT count(*) FROM tickets")
            if tickets != count or server.count() != 0:
                die("%s: %d tickets from %d messages, %d left on the server" % (name, tickets, count, server.count()))
            return elapsed

        print("%d messages (%.1f MB) in a fresh Dovecot Maildir per run, pop3s on loopback, peer verified;"
              % (POP_MESSAGES, size / 1e6))
        show(wt_cmd(where / "wt.db"))
        show(fetchmail_cmd(where / "fetchmail.db"))
        one("wt", wt_cmd, 50, (0,))  # warm-up, untimed
        one("fetchmail", fetchmail_cmd, 50, (0,))
        wt_t, fm_t = [], []
        for _ in range(rounds):  # alternate so drift in machine load hits both equally
            wt_t.append(one("wt", wt_cmd, POP_MESSAGES, (0,)))
            fm_t.append(one("fetchmail", fetchmail_cmd, POP_MESSAGES, (0,)))
    finally:
        server.cleanup()
    w, f = statistics.median(wt_t), statistics.median(fm_t)
    print("%d rounds alternating; median:" % rounds)
    print("%-40s %9s %12s" % ("", "seconds", "messages/s"))
    print("%-40s %9.2f %12.0f" % ("wt-deliver --pop (one pass)", w, POP_MESSAGES / w))
    print("%-40s %9.2f %12.0f" % ("fetchmail, mda wt-deliver per message", f, POP_MESSAGES / f))
    print("runs: wt %s; fetchmail %s" % (" ".join("%.2f" % t for t in wt_t), " ".join("%.2f" % t for t in fm_t)))
    print("Goal: wt-deliver --pop at or above fetchmail: %.2fx: %s" % (f / w, "met" if w <= f else "NOT met"))


# ---- postgres -----------------------------------------------------------
#
# The PostgreSQL store, against a server on loopback that this section starts (Debian's
# postgresql package, integration/pgserver.py: fsync and synchronous_commit on, password
# authentication over TCP, the password in a PGPASSFILE). The floor is pg_floor.c: connect,
# BEGIN, INSERT the raw message as bytea, COMMIT.

PG_FLOOR = OUT / "pg_floor"
PG_LOAD = 640
PG_CONCURRENCY = 32


def build_pg_floor():
    src = BENCH / "pg_floor.c"
    if stale(PG_FLOOR, src):
        cmd = ["gcc", "-O2", "-o", PG_FLOOR, src, "-lpq", "-I/usr/include/postgresql"]
        show(cmd)
        if subprocess.run(cmd).returncode != 0:
            die("cannot build %s (libpq development files missing? run `make bench-deps`)" % src.name, 2)


def add_rules(admin, db, env):
    """The delivery section's 50 rules, none matching, through wt-admin (either store)."""
    for i in range(RULES):
        subprocess.run([admin, "rules", "add", "bench rule %02d" % i, "--text", "no-such-phrase-%02d" % i,
                        "--type", "General", "--priority", ("Low", "Medium", "High", "Urgent")[i % 4],
                        "--order", str(i + 1), "--db", db], check=True, stdout=subprocess.DEVNULL, env=env)


def deliver_with_retries(cmd, data, env):
    """One delivery as the MTA's queue sees it: exit 75 is tried again. Returns the tries."""
    for tries in range(1, 201):
        p = subprocess.run(cmd, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        if p.returncode == 0:
            return tries
        if p.returncode != 75:
            die("delivery failed (exit %d): %s\n%s" % (p.returncode, shlex.join(map(str, cmd)),
                                                     p.stderr.decode(errors="replace").strip()))
        time.sleep(random.uniform(0.01, 0.05))
    die("delivery still exits 75 after 200 tries: %s" % shlex.join(map(str, cmd)))


def concurrent_rate(cmd, messages, env):
    """Messages per second with PG_CONCURRENCY deliveries at a time; (rate, retries)."""
    import concurrent.futures
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(PG_CONCURRENCY) as pool:
        tries = list(pool.map(lambda m: deliver_with_retries(cmd, m, env), messages))
    return len(messages) / (time.perf_counter() - t0), sum(tries) - len(tries)


def postgres(ctx):
    sys.path.insert(0, str(ROOT / "integration"))
    import pgserver
    wt, admin = ctx["wt"], ctx.get("admin")
    if not admin:
        die("the postgres section needs wt-admin beside wt-deliver (or WT_ADMIN)", 2)
    why = pgserver.missing_reason()
    if why:
        print("postgres: skipped, %s" % why)
        return
    build_pg_floor()
    rounds = ctx["rounds"] or SMALL_ROUNDS
    where = OUT / "postgres"
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    DELIVERY.mkdir(parents=True, exist_ok=True)
    server = pgserver.Server()
    try:
        server.start()
        env = dict(CHILD_ENV, PGPASSFILE=server.passfile)
        ver = server.sql("SHOW server_version")[0][0]
        print("PostgreSQL %s on 127.0.0.1:%d (fsync on, synchronous_commit on, scram-sha-256 over TCP)"
              % (ver, server.port))
        kinds = [("small", "small, plain", small_message),
                 ("1mib", "1 MiB attachment", lambda n: attachment_message(n, 1 << 20))]
        new_uri = lambda: server.uri(server.create_database())

        def wt_pg_create():
            uri = new_uri()
            p = subprocess.run([admin, "init", "--db", uri], capture_output=True, text=True, env=env)
            if p.returncode != 0:
                return None, "wt-admin init --db postgresql://... failed (exit %d): %s" % (
                    p.returncode, p.stderr.strip().splitlines()[-1:] or "")
            add_rules(admin, uri, env)
            return uri, None

        def wt_sqlite_create(name):
            db = where / name
            subprocess.run([admin, "init", "--db", db], check=True, stdout=subprocess.DEVNULL)
            add_rules(admin, db, env)
            return db

        def floor_create():
            uri = new_uri()
            subprocess.run([PG_FLOOR, "--init", uri], check=True, env=env)
            return uri

        wt_cmd = lambda db: [wt, "--db", db, "-f", SENDER, "--", RECIPIENT]
        contenders = [("floor", "pg_floor (C, libpq)", lambda db: [PG_FLOOR, db]),
                      ("wt", "wt-deliver, PostgreSQL", wt_cmd),
                      ("sqlite", "wt-deliver, SQLite", wt_cmd)]
        where_db = {}
        for kind, _, make in kinds:
            where_db["floor", kind] = floor_create()
            uri, wt_missing = wt_pg_create()
            where_db["wt", kind] = uri
            where_db["sqlite", kind] = wt_sqlite_create("sqlite-%s.db" % kind)
        if wt_missing:
            print("wt-deliver: no PostgreSQL store in this build: %s" % wt_missing)
            contenders = [c for c in contenders if c[0] != "wt"]
        direct = wt.parent / "wt-deliver-pg"
        if not wt_missing and direct.exists():
            # What wt-deliver execs for a PostgreSQL URI, named directly (saves one exec).
            contenders.insert(2, ("direct", "wt-deliver-pg, direct", lambda db: [direct] + wt_cmd(db)[1:]))
            for kind, _, _ in kinds:
                where_db["direct", kind] = wt_pg_create()[0]
        for key, _, cmd in contenders:  # one untimed delivery each: connections, caches, rule index
            for kind, _, make in kinds:
                run_fed(cmd(where_db[key, kind]), make(0), env=env)

        print("One process per message, the message on a pipe to its stdin; %d rounds, the contenders" % rounds)
        print("alternating (the order rotates every round); median wall time per delivery:")
        for key, _, cmd in contenders:
            show(cmd("postgresql://wt@127.0.0.1:PORT/DB" if key != "sqlite" else "DB"), " < message")
        print("wt-deliver sees %d rules, none matching. CPU is the delivery process's (and its children's)"
              % RULES)
        print("only, not the server's. Rounds:", end="", flush=True)
        times, cpu = {}, {}
        load = os.getloadavg()[0]
        for r in range(1, rounds + 1):
            print(" %d" % r, end="", flush=True)
            for kind, _, make in kinds:
                data = make(r)
                k = r % len(contenders)
                for key, _, cmd in contenders[k:] + contenders[:k]:
                    t, usage = run_fed(cmd(where_db[key, kind]), data, env=env)
                    times.setdefault((key, kind), []).append(t)
                    cpu.setdefault((key, kind), []).append(usage.ru_utime + usage.ru_stime)
        print()
        counts = {("floor", k): "SELECT count(*) FROM raw" for k, _, _ in kinds}
        counts.update({(w, k): "SELECT count(*) FROM tickets" for k, _, _ in kinds for w in ("wt", "direct")})
        for key, _, _ in contenders:
            for kind, _, _ in kinds:
                db = where_db[key, kind]
                n = sql_count(db, "SELECT count(*) FROM tickets") if key == "sqlite" else int(
                    server.psql(db, counts[key, kind])[0][0])
                if n != rounds + 1:
                    die("%s: %d rows in %s, expected %d" % (key, n, db, rounds + 1))
        print("Checked: every timed run stored its message (a row of raw, or a ticket).")
        med = {key: statistics.median(v) * 1000 for key, v in times.items()}
        cpu = {key: statistics.median(v) * 1000 for key, v in cpu.items()}
        sizes = {kind: len(make(1)) for kind, _, make in kinds}
        print()
        head1, head2 = "%-26s" % "", "%-26s" % "contender"
        for kind, title, _ in kinds:
            head1 += " | %-33s" % ("%s, %s" % (title, human(sizes[kind])))
            head2 += " | %8s %7s %8s %7s" % ("wall ms", "x floor", "CPU ms", "x floor")
        print(head1)
        print(head2)
        for key, label, _ in contenders:
            line = "%-26s" % label
            for kind, _, _ in kinds:
                line += " | %8.2f %7.2f %8.2f %7.2f" % (med[key, kind], med[key, kind] / med["floor", kind],
                                                       cpu[key, kind], cpu[key, kind] / cpu["floor", kind])
            print(line)
        if max(load, os.getloadavg()[0]) > 0.7:
            print("Warning: load average %.2f before the rounds, %.2f after: something else is running."
                  % (load, os.getloadavg()[0]))

        # Throughput: PG_LOAD fresh messages, PG_CONCURRENCY deliveries at a time, each store.
        print()
        print("%d small messages, %d deliveries at a time (a thread pool starting one process each;"
              % (PG_LOAD, PG_CONCURRENCY))
        print("exit 75 is retried as a queue would), into a fresh database each:")
        rates = {}
        targets = [("floor", "pg_floor (C, libpq)", [PG_FLOOR, floor_create()])]
        if not wt_missing:
            targets.append(("wt", "wt-deliver, PostgreSQL", wt_cmd(wt_pg_create()[0])))
        targets.append(("sqlite", "wt-deliver, SQLite", wt_cmd(wt_sqlite_create("sqlite-load.db"))))
        for key, label, cmd in targets:
            msgs = [small_message(100_000 * (len(rates) + 1) + i) for i in range(PG_LOAD)]
            rates[key] = concurrent_rate(cmd, msgs, env)
        print("%-26s %12s %9s" % ("", "messages/s", "retries"))
        for key, label, _ in targets:
            print("%-26s %12.0f %9d" % (label, rates[key][0], rates[key][1]))

        if not wt_missing:
            r_s, r_b = med["wt", "small"] / med["floor", "small"], med["wt", "1mib"] / med["floor", "1mib"]
            print()
            print("Goal: a delivery within 1.3x the floor: small %.2fx, 1 MiB %.2fx: %s"
                  % (r_s, r_b, "met" if max(r_s, r_b) <= 1.3 else "NOT met"))
            print("PostgreSQL against SQLite, %d at a time: %.2fx the messages per second"
                  % (PG_CONCURRENCY, rates["wt"][0] / rates["sqlite"][0]))
    finally:
        server.cleanup()


SECTIONS = [
    ("parse throughput", parse_throughput),
    ("delivery time", delivery_time),
    ("rules", rule_scaling),
    ("late match", late_match),
    ("follow-up", follow_up),
    ("notify", notify_throughput),
    ("pop fetch", pop_throughput),
    ("postgres", postgres),
]


def chosen_sections(names):
    if not names:
        return SECTIONS
    out = []
    for name in names:
        key = name.lower().replace("-", " ").replace("_", " ")
        hits = [s for s in SECTIONS if s[0].startswith(key)]
        if not hits:
            die("no section %r; the sections are: %s" % (name, ", ".join(t for t, _ in SECTIONS)), 64)
        out += [h for h in hits if h not in out]
    return out


def main():
    sections = chosen_sections(sys.argv[1:])
    wt = Path(os.environ.get("WT_DELIVER") or ROOT / ".build/release/wt-deliver")
    if not (wt.is_file() and os.access(wt, os.X_OK)):
        die("wt-deliver binary not found or not executable: %s\n"
            "  build it first (`make build`) or point WT_DELIVER at it" % wt, 2)
    admin = Path(os.environ.get("WT_ADMIN") or wt.parent / "wt-admin")
    rounds = os.environ.get("BENCH_ROUNDS")
    ctx = {"wt": wt.resolve(), "rounds": int(rounds) if rounds else None,
           "admin": admin.resolve() if admin.is_file() and os.access(admin, os.X_OK) else None}
    OUT.mkdir(parents=True, exist_ok=True)
    print("wt bench: %s, %d CPUs, load average %.2f" % (wt, os.cpu_count(), os.getloadavg()[0]))
    for title, run in sections:
        print("\n== %s ==" % title)
        run(ctx)


if __name__ == "__main__":
    main()
