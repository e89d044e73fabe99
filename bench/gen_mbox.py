#!/usr/bin/env python3
"""Generate the parse-benchmark mboxes (deterministic for a given --seed).

  mixed.mbox    realistic mixed mail: plain, alternative, attachments,
                QP/base64, RFC 2047/2231 encodings, related, message/rfc822
  headers.mbox  many small header-heavy messages (Received chains, DKIM,
                ARC, List-*, encoded address lists)

Usage: gen_mbox.py [OUTDIR] [--size MB] [--seed N]   (OUTDIR default bench/out)
"""
import argparse
import base64
import math
import os
import quopri
import random
import unicodedata

FROM_LINE = b"From sender@example.org Sat Jan  1 00:00:00 2022\n"

WORDS = ("the ticket invoice server please update account order shipping "
         "delivery support request issue login password report meeting "
         "schedule attached document review thanks regards customer refund "
         "problem error screen printer network access budget quarter team "
         "project deadline urgent follow question answer status").split()

# Text fragments per charset, used in subjects, names and bodies.
PHRASES = {
    "utf-8": ["Réunion déplacée à jeudi", "Grüße aus Köln", "Заявка на ремонт",
              "Προσφορά για το έργο", "日本語のテスト", "Café ☕ und Kuchen 🍰",
              "naïve façade — smörgåsbord", "Ελληνικά και русский"],
    "iso-8859-1": ["Größe und Übung", "Café crème à emporter", "Señor Muñoz",
                   "Reykjavík - Þórshöfn", "Blåbærsyltetøy"],
    "windows-1252": ["“Smart quotes” – 42 €", "Facture n° 7 … “payée” 3 €",
                     "Œuvres complètes — ‘Über’"],
    "iso-2022-jp": ["会議の件について", "お問い合わせありがとうございます", "請求書の送付"],
    "gb2312": ["关于发票的问题", "您好，请查收附件", "服务器维护通知"],
}
FIRST = ["Anna", "Jörg", "Zoë", "Chloé", "José", "Łukasz", "Ørjan", "Mei",
         "John", "Priya", "Søren", "Ahmed", "Émilie", "Kenji", "Olga"]
LAST = ["Müller", "O'Brien", "Doe", "Nuñez", "Dvořák", "Smith", "Ånström",
        "Tanaka", "Ivanova", "García", "Kowalski", "Lefèvre"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.co.uk",
           "corp.example.de", "lists.example.net"]


def ascii_fold(s):
    """Strip accents for ASCII-only contexts (local parts, comments)."""
    s = s.translate(str.maketrans("ØøŁł", "OoLl"))  # letters NFKD doesn't decompose
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode() or "x"


def encoded_words(rng, text, charset, enc=None):
    """RFC 2047-encode text as one or more encoded-words of <= 75 chars."""
    enc = enc or rng.choice("BQ")
    words, chunk = [], ""

    def word(s):
        raw = s.encode(charset)
        if enc == "B":
            payload = base64.b64encode(raw).decode()
        else:
            payload = "".join(chr(b) if b < 128 and chr(b).isalnum() or chr(b) in "!*+-/"
                              else "_" if b == 0x20 else "=%02X" % b for b in raw)
        return "=?%s?%s?%s?=" % (charset.upper(), enc, payload)

    # Split on characters, not bytes, so stateful/multibyte charsets stay valid.
    for ch in text:
        if chunk and len(word(chunk + ch)) > 75:
            words.append(word(chunk))
            chunk = ""
        chunk += ch
    if chunk:
        words.append(word(chunk))
    return words


def fold(name, words):
    """Header from a list of tokens, folding onto continuation lines at ~76 cols."""
    lines, cur = [], name + ":"
    for w in words:
        if len(cur) + 1 + len(w) > 76 and cur != name + ":":
            lines.append(cur)
            cur = " " + w
        else:
            cur += " " + w
    lines.append(cur)
    return "\n".join(lines)


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.n = 0

    # ---- small pieces -------------------------------------------------
    def words(self, n):
        return " ".join(self.rng.choice(WORDS) for _ in range(n))

    def charset(self, weights=(50, 20, 12, 9, 9)):
        return self.rng.choices(list(PHRASES), weights)[0]

    def boundary(self):
        self.n += 1
        return "=_wtb_%06d_%08x" % (self.n, self.rng.getrandbits(32))

    def addr(self):
        r = self.rng
        first, last = r.choice(FIRST), r.choice(LAST)
        email = "%s.%s@%s" % (ascii_fold(first).lower(), r.randrange(1000), r.choice(DOMAINS))
        style = r.randrange(6)
        if style == 0:
            return email
        if style == 1:
            return "%s (%s %s)" % (email, ascii_fold(first), ascii_fold(last))
        if style == 2:
            return '"%s, %s" <%s>' % (ascii_fold(last), ascii_fold(first), email)
        cs = self.charset((40, 30, 10, 10, 10))
        name = "%s %s" % (first, last) if cs == "utf-8" or r.random() < 0.5 \
            else r.choice(PHRASES[cs])
        try:
            name.encode(cs)
        except UnicodeEncodeError:
            cs = "utf-8"
        return "%s <%s>" % (" ".join(encoded_words(r, name, cs)), email)

    def addr_list(self, name, n):
        addrs = [self.addr() for _ in range(n)]
        return fold(name, [a + "," for a in addrs[:-1]] + [addrs[-1]])

    def subject(self):
        r = self.rng
        if r.random() < 0.25:
            return "Subject: Re: %s" % self.words(r.randint(3, 8))
        cs = self.charset()
        words = encoded_words(r, r.choice(PHRASES[cs]), cs)
        if r.random() < 0.4:
            words = ["[Ticket", "#%d]" % r.randrange(100000)] + words
        return fold("Subject", words)

    def date(self):
        r = self.rng
        return "Date: %s, %02d %s 2022 %02d:%02d:%02d %s" % (
            r.choice(["Mon", "Tue", "Wed", "Thu", "Fri"]), r.randint(1, 28),
            r.choice(["Jan", "Feb", "Mar", "Apr", "May", "Jun"]), r.randrange(24),
            r.randrange(60), r.randrange(60), r.choice(["+0000", "-0500", "+0100", "+0900"]))

    def msgid(self):
        return "<%016x.%d@%s>" % (self.rng.getrandbits(64), self.rng.randrange(10**6),
                                  self.rng.choice(DOMAINS))

    def base_headers(self):
        return [self.date(), "From: " + self.addr(),
                self.addr_list("To", self.rng.randint(1, 2)),
                self.subject(), "Message-ID: " + self.msgid(), "MIME-Version: 1.0"]

    def text(self, charset, lines):
        r = self.rng
        out = []
        for _ in range(lines):
            roll = r.random()
            if roll < 0.05:
                out.append("From " + self.words(r.randint(2, 6)))  # needs >From escaping
            elif roll < 0.25 and charset != "us-ascii":
                out.append(r.choice(PHRASES[charset]) + " " + self.words(r.randint(2, 8)))
            elif roll < 0.3:
                out.append("")
            else:
                out.append(self.words(r.randint(4, 14)))
        return "\n".join(out) + "\n"

    # ---- MIME leaves ---------------------------------------------------
    def text_part(self, subtype="plain", lines=None, html_extra=""):
        r = self.rng
        cs = r.choice(["us-ascii", "utf-8", "utf-8", "iso-8859-1", "windows-1252"])
        body = self.text(cs, lines or r.randint(5, 60))
        if subtype == "html":
            body = "<html><body>\n" + "".join(
                "<p>%s</p>\n" % l for l in body.splitlines() if l) + html_extra + "</body></html>\n"
        raw = body.encode(cs if cs != "us-ascii" else "ascii")
        if cs == "us-ascii":
            cte, payload = "7bit", raw
        elif r.random() < 0.75:
            cte, payload = "quoted-printable", quopri.encodestring(raw)
        elif r.random() < 0.5:
            cte, payload = "base64", base64.encodebytes(raw)
        else:
            cte, payload = "8bit", raw
        hdr = "Content-Type: text/%s; charset=%s\nContent-Transfer-Encoding: %s\n" % (
            subtype, cs if r.random() < 0.7 else '"%s"' % cs, cte)
        return hdr.encode() + b"\n" + payload

    def blob(self, kind, size):
        magic = {"pdf": b"%PDF-1.4\n", "png": b"\x89PNG\r\n\x1a\n", "zip": b"PK\x03\x04"}[kind]
        return magic + self.rng.randbytes(size - len(magic))

    def attachment(self, inline_cid=None):
        r = self.rng
        kind = "png" if inline_cid else r.choice(["pdf", "png", "zip"])
        ctype = {"pdf": "application/pdf", "png": "image/png", "zip": "application/zip"}[kind]
        # Log-uniform between 5 KB and 400 KB: mostly small, a few large.
        size = int(math.exp(r.uniform(math.log(5_000), math.log(400_000))))
        if inline_cid:
            size = min(size, 60_000)
            disp = "Content-Disposition: inline\nContent-ID: <%s>\n" % inline_cid
            name_param = ""
        else:
            base = r.choice(["Rechnung_März", "facture_été", "報告書", "scan", "report-Q3",
                             "Übersicht", "photo"]) + "_%d.%s" % (r.randrange(100), kind)
            if base.isascii():
                disp = 'Content-Disposition: attachment; filename="%s"\n' % base
                name_param = '; name="%s"' % base
            else:  # RFC 2231 extended parameter, percent-encoded UTF-8
                pct = "".join(chr(b) if b < 128 and chr(b).isalnum() or chr(b) in "._-"
                              else "%%%02X" % b for b in base.encode())
                disp = "Content-Disposition: attachment;\n filename*=UTF-8''%s\n" % pct
                name_param = ";\n name*=UTF-8''%s" % pct
        hdr = "Content-Type: %s%s\nContent-Transfer-Encoding: base64\n%s" % (ctype, name_param, disp)
        return hdr.encode() + b"\n" + base64.encodebytes(self.blob(kind, size))

    def multipart(self, subtype, parts, extra=""):
        b = self.boundary()
        out = [('Content-Type: multipart/%s;%s\n boundary="%s"\n\n' % (subtype, extra, b)).encode(),
               b"This is a multi-part message in MIME format.\n"]
        for p in parts:
            out += [b"\n--" + b.encode() + b"\n", p]
        out.append(b"\n--" + b.encode() + b"--\n")
        return b"".join(out)

    def alternative(self):
        n = self.rng.randint(5, 60)
        return self.multipart("alternative", [self.text_part("plain", n), self.text_part("html", n)])

    def related(self):
        cid = "img%d.%x@example.com" % (self.n, self.rng.getrandbits(24))
        html = self.text_part("html", html_extra='<img src="cid:%s">\n' % cid)
        return self.multipart("related", [html, self.attachment(inline_cid=cid)],
                              ' type="text/html";')

    def rfc822(self):
        inner = "\n".join(self.base_headers()).encode() + b"\n" + \
            (self.alternative() if self.rng.random() < 0.5 else self.text_part())
        return (b"Content-Type: message/rfc822\nContent-Disposition: attachment\n\n" + inner)

    # ---- whole messages ------------------------------------------------
    def mixed_message(self):
        r = self.rng
        roll = r.random()
        if roll < 0.30:
            body = self.text_part()
        elif roll < 0.55:
            body = self.alternative()
        elif roll < 0.65:  # alternative(plain, related(html, inline image))
            body = self.multipart("alternative", [self.text_part(), self.related()])
        else:
            first = self.text_part() if r.random() < 0.5 else self.alternative()
            if roll < 0.70:
                rest = [self.rfc822()]
            else:
                rest = [self.attachment() for _ in range(r.randint(1, 3))]
            body = self.multipart("mixed", [first] + rest)
        return "\n".join(self.trace(2) + self.base_headers()).encode() + b"\n" + body

    def trace(self, max_hops):
        """Return-Path, Delivered-To and a chain of folded Received headers."""
        r = self.rng
        h = ["Return-Path: <bounce-%d@%s>" % (r.randrange(10**6), r.choice(DOMAINS)),
             "Delivered-To: support@example.org"]
        me = "mx%d.example.org" % r.randrange(1, 4)
        for i in range(r.randint(1, max_hops)):
            ip = "%d.%d.%d.%d" % tuple(r.randrange(1, 255) for _ in range(4))
            host = "mail-%s%d.example.com" % (r.choice(["wr", "ej", "pf", "out"]), i)
            h.append("Received: from %s (%s [%s])\n\tby %s (Postfix) with ESMTPS id %08X%s;\n\t%s"
                     % (host, host, ip, me, r.getrandbits(32),
                        "\n\tfor <support@example.org>" if r.random() < 0.5 else "",
                        self.date()[6:]))
        return h

    def header_message(self):
        r = self.rng
        h = self.trace(4)
        sig = lambda n: base64.b64encode(r.randbytes(n)).decode()
        # Long signature values are folded in 64-char pieces (FWS is allowed in b=).
        chunks = lambda s: [s[i:i + 64] for i in range(0, len(s), 64)]
        if r.random() < 0.8:
            h.append(fold("DKIM-Signature", [
                "v=1;", "a=rsa-sha256;", "c=relaxed/relaxed;", "d=%s;" % r.choice(DOMAINS),
                "s=20210112;", "h=mime-version:from:date:message-id:subject:to:cc;",
                "bh=%s;" % sig(32)] + chunks("b=" + sig(128))))
        if r.random() < 0.3:
            h.append(fold("ARC-Seal", ["i=1;", "a=rsa-sha256;", "t=1641000000;", "cv=none;",
                                       "d=google.com;", "s=arc-20160816;"] + chunks("b=" + sig(96))))
            h.append(fold("ARC-Message-Signature", [
                "i=1;", "a=rsa-sha256;", "c=relaxed/relaxed;", "d=google.com;",
                "s=arc-20160816;", "h=to:subject:message-id:date:from:mime-version;",
                "bh=%s;" % sig(32)] + chunks("b=" + sig(96))))
        auth = ["mx.example.org;", "dkim=pass", "header.i=@example.com", "header.s=20210112;",
                "spf=pass"] + ("(example.org: domain of bounce@example.com designates"
                               " 192.0.2.7 as permitted sender)").split() * (r.random() < 0.5) + [
                "smtp.mailfrom=bounce@example.com;",
                "dmarc=pass", "(p=NONE sp=NONE dis=NONE)", "header.from=example.com"]
        h.append(fold("Authentication-Results", auth))
        if r.random() < 0.2:
            h.append(fold("ARC-Authentication-Results", ["i=1;"] + auth))
        h.append(self.date())
        h.append("From: " + self.addr())
        h.append(self.addr_list("To", r.randint(1, 4)))
        h.append(self.addr_list("Cc", r.randint(1, 4)))
        h.append(self.subject())
        h.append("Message-ID: " + self.msgid())
        if r.random() < 0.6:
            h.append("In-Reply-To: " + self.msgid())
            h.append(fold("References", [self.msgid() for _ in range(r.randint(1, 5))]))
        if r.random() < 0.4:
            lst = "%s.lists.example.net" % r.choice(WORDS)
            h += ['List-Id: "%s users" <%s>' % (lst.split(".")[0].title(), lst),
                  "List-Unsubscribe: <mailto:leave@%s>,\n <https://%s/u/%d>" % (lst, lst, r.randrange(10**6)),
                  "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                  "List-Archive: <https://%s/archive>" % lst,
                  "List-Post: <mailto:post@%s>" % lst, "List-Help: <mailto:help@%s>" % lst,
                  "List-Subscribe: <mailto:join@%s>" % lst, "Precedence: list"]
        h += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8; format=flowed",
              "Content-Transfer-Encoding: 7bit"]
        # Pad with short, distinct headers up to the target field count.
        target = r.randint(30, 60)
        fillers = ["X-Mailer: Microsoft Outlook 16.0", "X-Priority: 3 (Normal)",
                   "X-Spam-Score: %.1f" % r.uniform(-5, 5), "X-Spam-Flag: NO",
                   "X-Originating-IP: [10.%d.%d.%d]" % tuple(r.randrange(255) for _ in range(3)),
                   "Thread-Topic: " + self.words(3), "Content-Language: en-US",
                   "X-MS-Has-Attach:", "X-MS-TNEF-Correlator:",
                   "Feedback-ID: %d:%d:gmr" % (r.randrange(99), r.randrange(99)),
                   "X-Virus-Scanned: amavisd-new at example.org", "X-Auto-Response-Suppress: All",
                   "Auto-Submitted: no", "X-Env-Sender: bounce@example.com"]
        h += r.sample(fillers, min(len(fillers), max(0, target - len(h))))
        h += ["X-Hdr-%d: %s" % (i, self.words(1)) for i in range(target - len(h))]
        return "\n".join(h).encode() + b"\n\n" + self.text("us-ascii", r.randint(1, 3)).encode()


def escape(msg):
    # mboxo: body lines starting with "From " are prefixed with ">".
    return msg.replace(b"\nFrom ", b"\n>From ")


def write_mbox(path, make, target_bytes, accept=lambda m: True):
    n = size = 0
    with open(path, "wb") as f:
        while size < target_bytes:
            msg = escape(make())
            if not accept(msg):
                continue
            if not msg.endswith(b"\n"):
                msg += b"\n"
            chunk = FROM_LINE + msg + b"\n"  # the blank line belongs to the separator
            f.write(chunk)
            size += len(chunk)
            n += 1
    return n, size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", default=os.path.join(os.path.dirname(__file__), "out"))
    ap.add_argument("--size", type=float, default=20, help="target MB (10^6 bytes) per mbox")
    ap.add_argument("--seed", type=int, default=20220101)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    target = int(a.size * 1e6)
    g = Gen(a.seed)
    for name, make, accept in [
        ("mixed.mbox", g.mixed_message, lambda m: True),
        ("headers.mbox", g.header_message, lambda m: 1024 <= len(m) <= 3072),
    ]:
        path = os.path.join(a.outdir, name)
        n, size = write_mbox(path, make, target, accept)
        print("%s: %d messages, %.1f MB" % (path, n, size / 1e6))


if __name__ == "__main__":
    main()
