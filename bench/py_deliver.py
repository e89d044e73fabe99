#!/usr/bin/env python3
"""py_deliver: wt-deliver's job in plain Python (standard library only), a peer for the
"delivery time" benchmark.

    py_deliver.py --db PATH [-f SENDER] [--] [RECIPIENT] < message

Does what wt-deliver does for a new message, the way a short Python script would:

- read standard input; SHA-256 of the raw bytes, and an exactly-once key from that hash and
  the recipient (a message delivered twice to one recipient is stored once);
- parse with `email` (policy.default); pick the text body (text/plain, else text/html with
  the tags stripped); walk every other leaf part as an attachment, decode it and hash it;
- run the enabled rules from the `rules` table (first match, by priority_order, of a
  case-insensitive substring of the sender, the subject or the body);
- in one BEGIN IMMEDIATE transaction (WAL, synchronous=FULL): the raw message, the requester
  (created when unknown), the ticket, its first event, every attachment (bytes stored once per
  SHA-256 in `blobs`), an outbox row and the delivery key.

The schema is a trimmed copy of wt's (the tables a delivery touches, with the same indexes),
created when the database is missing. Exit 0 when stored (or stored before), 75 on errors.
"""
import argparse
import email
import hashlib
import re
import sqlite3
import sys
import time
from email import policy

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, emails TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL);
CREATE TABLE user_addresses (address TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
                             user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE);
CREATE TABLE ticket_types (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                           technician_id INTEGER REFERENCES users(id), notify_emails TEXT NOT NULL DEFAULT '');
CREATE TABLE rules (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, text_to_match TEXT NOT NULL,
                    ticket_type_id INTEGER NOT NULL REFERENCES ticket_types(id), priority TEXT NOT NULL,
                    priority_order INTEGER NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE raw_messages (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, sender TEXT, recipient TEXT,
                           size INTEGER NOT NULL, sha256 TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE tickets (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, body TEXT NOT NULL,
                      requester_id INTEGER REFERENCES users(id), technician_id INTEGER REFERENCES users(id),
                      ticket_type_id INTEGER REFERENCES ticket_types(id), priority TEXT NOT NULL,
                      status TEXT NOT NULL DEFAULT 'Open', message_id TEXT, flagged INTEGER NOT NULL DEFAULT 0,
                      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX tickets_message_id ON tickets(message_id);
CREATE TABLE ticket_events (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
                            kind TEXT NOT NULL, author_id INTEGER REFERENCES users(id),
                            raw_message_id INTEGER REFERENCES raw_messages(id), message_id TEXT, subject TEXT,
                            body TEXT, detail TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id);
CREATE INDEX ticket_events_message_id ON ticket_events(message_id);
CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE attachments (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
                          event_id INTEGER NOT NULL REFERENCES ticket_events(id),
                          sha256 TEXT NOT NULL REFERENCES blobs(sha256), filename TEXT NOT NULL,
                          content_type TEXT NOT NULL, size INTEGER NOT NULL, inline INTEGER NOT NULL DEFAULT 0,
                          content_id TEXT);
CREATE INDEX attachments_ticket ON attachments(ticket_id);
CREATE TABLE deliveries (key TEXT PRIMARY KEY, raw_message_id INTEGER NOT NULL REFERENCES raw_messages(id),
                         ticket_id INTEGER REFERENCES tickets(id), action TEXT NOT NULL, delivered_at INTEGER NOT NULL);
CREATE TABLE outbox (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
                     event_id INTEGER NOT NULL REFERENCES ticket_events(id), kind TEXT NOT NULL,
                     state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
                     next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at INTEGER NOT NULL);
CREATE INDEX outbox_pending ON outbox(state, next_attempt_at);
INSERT INTO ticket_types (name) VALUES ('General');
INSERT INTO settings (key, value) VALUES ('default_ticket_type', 'General'), ('default_priority', 'Medium'),
                                         ('create_unknown_users', 'true');
PRAGMA user_version = 1;
"""

TAG = re.compile(r"<[^>]*>")


def open_db(path):
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    if db.execute("PRAGMA user_version").fetchone()[0] == 0:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("PRAGMA user_version").fetchone()[0] == 0:  # another process may have won
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
        db.execute("COMMIT")
    return db


def plan(msg, envelope_sender):
    """Subject, body, requester, attachments: what the ticket will hold."""
    subject = str(msg.get("subject", "") or "")
    from_addrs = msg.get("from")
    name, address = None, None
    if from_addrs is not None and getattr(from_addrs, "addresses", None):
        a = from_addrs.addresses[0]
        name, address = a.display_name or None, a.addr_spec or None
    if not address:
        address = envelope_sender or None

    body_part = msg.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        try:
            body = body_part.get_content()
        except (LookupError, UnicodeError):
            body = (body_part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        if body_part.get_content_subtype() == "html":
            body = TAG.sub(" ", body)

    attachments = []
    for part in msg.walk():
        if part.is_multipart() or part is body_part:
            continue
        data = part.get_payload(decode=True) or b""
        disposition = part.get_content_disposition()
        attachments.append({
            "filename": part.get_filename() or "attachment",
            "content_type": part.get_content_type(),
            "data": data,
            "sha256": hashlib.sha256(data).hexdigest(),
            "inline": disposition == "inline",
            "content_id": (part.get("content-id") or "").strip("<> ") or None,
        })
    sender_text = " ".join(x for x in (name, address) if x)
    return subject, body, name, address, sender_text, attachments


def first_match(rules, fields):
    lowered = [f.lower() for f in fields]
    for rule in rules:
        needle = rule[1].lower()
        if needle and any(needle in f for f in lowered):
            return rule
    return None


def automated(msg, envelope_sender):
    if envelope_sender is not None and envelope_sender in ("", "<>"):
        return True
    auto = (msg.get("auto-submitted") or "").lower()
    if auto and not auto.startswith("no"):
        return True
    if (msg.get("precedence") or "").lower() in ("bulk", "junk", "list"):
        return True
    return msg.get("list-id") is not None or msg.get("x-auto-response-suppress") is not None


def deliver(db, raw, sender, recipient):
    raw_hex = hashlib.sha256(raw).hexdigest()
    key = hashlib.sha256(raw_hex.encode() + b"\0" + (recipient or "").lower().encode()).hexdigest()
    msg = email.message_from_bytes(raw, policy=policy.default)
    subject, body, name, address, sender_text, attachments = plan(msg, sender)
    message_id = (msg.get("message-id") or "").strip().strip("<>") or None
    now = int(time.time())

    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("SELECT ticket_id FROM deliveries WHERE key = ?", (key,)).fetchone():
            db.execute("COMMIT")
            return "duplicate"
        settings = dict(db.execute("SELECT key, value FROM settings"))
        rules = db.execute("""SELECT r.name, r.text_to_match, t.name, r.priority FROM rules r
                              JOIN ticket_types t ON t.id = r.ticket_type_id WHERE r.enabled
                              ORDER BY r.priority_order, r.created_at, r.id""").fetchall()
        rule = first_match(rules, (sender_text, subject, body))
        type_name = rule[2] if rule else settings.get("default_ticket_type", "General")
        priority = rule[3] if rule else settings.get("default_priority", "Medium")
        detail = "rule: %s\n" % rule[0] if rule else ""

        raw_id = db.execute("INSERT INTO raw_messages (received_at, sender, recipient, size, sha256, data) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (now, sender, recipient, len(raw), raw_hex, raw)).lastrowid
        requester = None
        if address:
            row = db.execute("SELECT user_id FROM user_addresses WHERE address = ?", (address,)).fetchone()
            if row:
                requester = row[0]
            elif settings.get("create_unknown_users", "true") == "true":
                requester = db.execute("INSERT INTO users (name, role, emails, created_at) VALUES (?, 'end_user', ?, ?)",
                                       (name or address, address, now)).lastrowid
                db.execute("INSERT INTO user_addresses (address, user_id) VALUES (?, ?)", (address, requester))
        trow = db.execute("SELECT id, technician_id FROM ticket_types WHERE name = ?", (type_name,)).fetchone()
        type_id, technician = trow if trow else (None, None)
        ticket_id = db.execute(
            "INSERT INTO tickets (subject, body, requester_id, technician_id, ticket_type_id, priority, status, "
            "message_id, flagged, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'Open', ?, 0, ?, ?)",
            (subject or "(no subject)", body, requester, technician, type_id, priority, message_id, now, now)).lastrowid
        event_id = db.execute(
            "INSERT INTO ticket_events (ticket_id, kind, author_id, raw_message_id, message_id, subject, body, detail, "
            "created_at) VALUES (?, 'created', ?, ?, ?, ?, ?, ?, ?)",
            (ticket_id, requester, raw_id, message_id, subject, body, detail, now)).lastrowid
        for a in attachments:
            if not db.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (a["sha256"],)).fetchone():
                db.execute("INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?)",
                           (a["sha256"], len(a["data"]), a["data"]))
            db.execute("INSERT INTO attachments (ticket_id, event_id, sha256, filename, content_type, size, inline, "
                       "content_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (ticket_id, event_id, a["sha256"], a["filename"].replace("/", "_"), a["content_type"],
                        len(a["data"]), int(a["inline"]), a["content_id"]))
        if not automated(msg, sender):
            db.execute("INSERT INTO outbox (ticket_id, event_id, kind, created_at) VALUES (?, ?, 'ticket_created', ?)",
                       (ticket_id, event_id, now))
        db.execute("INSERT INTO deliveries (key, raw_message_id, ticket_id, action, delivered_at) "
                   "VALUES (?, ?, ?, 'created', ?)", (key, raw_id, ticket_id, now))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return "created"


def main():
    ap = argparse.ArgumentParser(description="Turn one message on standard input into a ticket (Python peer of wt-deliver).")
    ap.add_argument("--db", required=True)
    ap.add_argument("-f", "--sender")
    ap.add_argument("recipients", nargs="*")
    args = ap.parse_args()
    raw = sys.stdin.buffer.read()
    if not raw:
        print("py_deliver: empty message", file=sys.stderr)
        return 65
    try:
        db = open_db(args.db)
        deliver(db, raw, args.sender, args.recipients[0] if args.recipients else None)
        db.close()
    except Exception as e:  # everything else is transient for the MTA
        print("py_deliver: not delivered, will be retried: %s" % e, file=sys.stderr)
        return 75
    return 0


if __name__ == "__main__":
    sys.exit(main())
