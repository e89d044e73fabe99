/// Versioned migrations, applied in order inside one BEGIN IMMEDIATE transaction, so that
/// any number of processes may open a new database at once and exactly one creates it.
enum Schema {
    static let migrations: [(name: String, sql: String)] = [
        ("1 tickets", """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('technician', 'end_user')),
            emails TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL
        );
        -- One row per address of a user (Web Tracks separates them with semicolons).
        CREATE TABLE user_addresses (
            address TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE
        );
        CREATE TABLE ticket_types (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            technician_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            notify_emails TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE rules (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            text_to_match TEXT NOT NULL,
            ticket_type_id INTEGER NOT NULL REFERENCES ticket_types(id),
            priority TEXT NOT NULL,
            priority_order INTEGER NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- Every message as received: nothing is lost, and a ticket can be parsed again.
        CREATE TABLE raw_messages (
            id INTEGER PRIMARY KEY,
            received_at INTEGER NOT NULL,
            sender TEXT,
            recipient TEXT,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            data BLOB NOT NULL
        );
        CREATE TABLE tickets (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            requester_id INTEGER REFERENCES users(id),
            technician_id INTEGER REFERENCES users(id),
            ticket_type_id INTEGER REFERENCES ticket_types(id),
            priority TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'Open',
            message_id TEXT,
            flagged INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX tickets_message_id ON tickets(message_id);
        CREATE TABLE ticket_events (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            kind TEXT NOT NULL,
            author_id INTEGER REFERENCES users(id),
            raw_message_id INTEGER REFERENCES raw_messages(id),
            message_id TEXT,
            subject TEXT,
            body TEXT,
            detail TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL
        );
        CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id);
        CREATE INDEX ticket_events_message_id ON ticket_events(message_id);
        -- Attachment bytes, stored once per SHA-256.
        CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL);
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            event_id INTEGER NOT NULL REFERENCES ticket_events(id),
            sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            filename TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            inline INTEGER NOT NULL DEFAULT 0,
            content_id TEXT
        );
        CREATE INDEX attachments_ticket ON attachments(ticket_id);
        -- Exactly once: a hash of the raw message and the recipient, written with the ticket.
        CREATE TABLE deliveries (
            key TEXT PRIMARY KEY,
            raw_message_id INTEGER NOT NULL REFERENCES raw_messages(id),
            ticket_id INTEGER REFERENCES tickets(id),
            action TEXT NOT NULL,
            delivered_at INTEGER NOT NULL
        );
        -- Ticket events waiting for the notifier.
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            event_id INTEGER NOT NULL REFERENCES ticket_events(id),
            kind TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX outbox_pending ON outbox(state, next_attempt_at);
        INSERT INTO ticket_types (name) VALUES ('General');
        """),
        ("2 rule index", """
        -- Counters; rules_version changes with every change to rules or ticket types, so that
        -- a compiled rule index can be cached next to the database.
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO meta (key, value) VALUES ('rules_version', 1);
        INSERT OR IGNORE INTO settings (key, value) VALUES ('priorities', 'Low;Medium;High;Urgent');
        """),
        ("3 redeliveries", """
        -- How often the MTA handed us a message we already had (after a 75, or a duplicate).
        ALTER TABLE deliveries ADD COLUMN redeliveries INTEGER NOT NULL DEFAULT 0;
        """),
        ("4 attachments in the raw message", """
        -- An attachment's bytes are usually a range of the raw message, which is kept anyway:
        -- store where they are (still transfer-encoded) instead of a second copy. Only parts
        -- that are not a range of the raw message (inside an encoded attached message) have
        -- a blob, stored once per SHA-256.
        CREATE TABLE attachments_new (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            event_id INTEGER NOT NULL REFERENCES ticket_events(id),
            sha256 TEXT NOT NULL,
            filename TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            inline INTEGER NOT NULL DEFAULT 0,
            content_id TEXT,
            raw_message_id INTEGER REFERENCES raw_messages(id),
            body_start INTEGER,
            body_end INTEGER,
            encoding TEXT
        );
        INSERT INTO attachments_new (id, ticket_id, event_id, sha256, filename, content_type, size, inline, content_id)
            SELECT id, ticket_id, event_id, sha256, filename, content_type, size, inline, content_id FROM attachments;
        DROP TABLE attachments;
        ALTER TABLE attachments_new RENAME TO attachments;
        CREATE INDEX attachments_ticket ON attachments(ticket_id);
        CREATE INDEX attachments_sha256 ON attachments(sha256);
        """),
        ("5 rule index in the database; users from mail", """
        -- The compiled rule index, kept with the rules it was built from, for rules_version.
        -- A copy beside the database is mapped by deliveries; it names this database by a
        -- random id, so that another database's copy is never taken for it.
        CREATE TABLE rule_index (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, image BLOB NOT NULL);
        INSERT INTO meta (key, value) VALUES ('database_id', random());
        -- A sender who becomes a user is named by the address and keeps the From name apart,
        -- so that mail can never take, or block, a name an administrator gives.
        ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'admin';
        ALTER TABLE users ADD COLUMN display_name TEXT;
        UPDATE users SET name = name || ' #' || id
            WHERE id NOT IN (SELECT min(id) FROM users GROUP BY name COLLATE NOCASE);
        CREATE UNIQUE INDEX users_name ON users(name COLLATE NOCASE);
        """),
        ("6 conversations", """
        -- The helpdesk address a ticket came in at, the ticket a new one links to (a reply
        -- from a stranger, to a closed ticket, or failing DMARC), and mail no robot may answer.
        ALTER TABLE tickets ADD COLUMN recipient TEXT;
        ALTER TABLE tickets ADD COLUMN linked_ticket_id INTEGER REFERENCES tickets(id);
        ALTER TABLE tickets ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0;
        -- Events come by mail or from wt-admin; a reply's quoted part starts at quoted_at (a
        -- UTF-8 offset into body); reasons say why delivery decided what it did.
        ALTER TABLE ticket_events ADD COLUMN source TEXT NOT NULL DEFAULT 'mail';
        ALTER TABLE ticket_events ADD COLUMN quoted_at INTEGER;
        ALTER TABLE ticket_events ADD COLUMN reasons TEXT NOT NULL DEFAULT '';
        ALTER TABLE ticket_events ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0;
        -- Helpdesk addresses a ticket type receives for (support@, billing@...).
        CREATE TABLE type_addresses (
            address TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
            type_id INTEGER NOT NULL REFERENCES ticket_types(id) ON DELETE CASCADE
        );
        -- Addresses that bounced: the notifier writes to them no more.
        CREATE TABLE bouncing_addresses (
            address TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
            first_at INTEGER NOT NULL,
            last_at INTEGER NOT NULL,
            count INTEGER NOT NULL DEFAULT 1,
            ticket_id INTEGER REFERENCES tickets(id),
            detail TEXT NOT NULL DEFAULT ''
        );
        -- Keys made here and never shown: our Message-IDs carry a tag made with this one, so
        -- that nobody can make up a Message-ID that files mail into a ticket.
        CREATE TABLE secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
        INSERT INTO secrets (name, value) VALUES ('message_id_key', randomblob(32));
        """),
        ("7 notifications", """
        -- One row per mail the notifier sends: an outbox entry (a ticket event) is expanded
        -- into its recipients once, and each address receives an event at most once.
        ALTER TABLE outbox ADD COLUMN expanded_at INTEGER;
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES outbox(id),
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            event_id INTEGER NOT NULL REFERENCES ticket_events(id),
            kind TEXT NOT NULL,
            address TEXT NOT NULL COLLATE NOCASE,
            role TEXT NOT NULL,
            -- queued, sent, failed (permanently), held (a limit), suppressed (bouncing, automatic)
            state TEXT NOT NULL DEFAULT 'queued',
            reason TEXT NOT NULL DEFAULT '',
            message_id TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL DEFAULT 0,
            -- A notifier's claim; another may take the row once the lease has run out.
            claimed_by TEXT,
            lease_until INTEGER,
            last_error TEXT,
            created_at INTEGER NOT NULL,
            sent_at INTEGER,
            UNIQUE (event_id, address)
        );
        CREATE INDEX notifications_due ON notifications(state, next_attempt_at);
        -- For the limits, which count by when a mail was queued: neither changes when it is
        -- sent, so recording a mail as sent writes no page of theirs.
        CREATE INDEX notifications_address_created ON notifications(address, created_at);
        CREATE INDEX notifications_ticket_created ON notifications(ticket_id, created_at);
        """),
        ("8 POP3 fetch mode", """
        -- What fetch mode took from a mailbox, by the server's unique id (UIDL): delivered
        -- messages when mail is kept on the server, and messages whose delivery failed.
        CREATE TABLE pop_messages (
            mailbox TEXT NOT NULL,
            uidl TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('delivered', 'failed')),
            delivery_key TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            first_seen_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (mailbox, uidl)
        );
        CREATE INDEX pop_messages_failed ON pop_messages (state, updated_at);
        """),
    ]

    /// Settings every database starts with: the Web Tracks e-mail settings and ours.
    static let defaultSettings: [(String, String)] = [
        ("from_email", "servicedesk@localhost"),
        ("display_name", "Service Desk"),
        ("smtp_server", ""),
        ("smtp_port", "587"),
        ("smtp_requires_auth", "false"),
        ("smtp_user", ""),
        ("smtp_password", ""),
        ("email_technician_on_create", "true"),
        ("email_technician_on_update", "true"),
        ("email_end_user_on_create", "true"),
        ("email_end_user_on_update", "true"),
        ("self_notify", "false"),
        ("html_email", "false"),
        ("email_subject", "Service Desk Ticket"),
        ("new_ticket_prebody", "A new ticket has been created."),
        ("update_ticket_prebody", "A ticket has been updated."),
        ("email_fields", "number;subject;status;priority;ticket_type;technician;requester;body"),
        ("linkback_position", "Bottom"),
        ("pop_host", ""),
        ("pop_user", ""),
        ("pop_password", ""),
        ("smtp_password_file", ""),
        ("pop_password_file", ""),
        ("pop_security", "tls"),
        ("pop_ca_file", ""),
        ("pop_address", ""),
        ("root_url", ""),
        ("default_ticket_type", "General"),
        ("default_priority", "Medium"),
        ("priorities", "Low;Medium;High;Urgent"),
        ("create_unknown_users", "true"),
        ("reopen_on_reply", "true"),
        ("followup_from_anyone", "false"),
        ("trusted_authserv_id", ""),
        ("trust_spam_headers", "false"),
        ("spam_ticket_type", ""),
        ("smtp_security", ""),
        ("smtp_ca_file", ""),
        ("sendmail_path", "/usr/sbin/sendmail"),
        ("max_mails_per_recipient_per_day", "20"),
        ("max_mails_per_ticket_per_hour", "10"),
    ]
}
