#!/usr/bin/env python3
"""Runs the shared conformance script and fails when wt-deliver got worse.

It fails when a message is not handled robustly, when the score falls below --min, or when a
mismatch is not listed in docs/tolerated-deviations.md (a line naming the message in
backquotes and the field).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument('--bin', required=True)
ap.add_argument('--shared', default='../shared')
ap.add_argument('--min', type=float, default=95.5)
ap.add_argument('--doc', default='docs/tolerated-deviations.md')
args = ap.parse_args()

with tempfile.NamedTemporaryFile(suffix='.json') as rep:
    out = subprocess.run([sys.executable, os.path.join(args.shared, 'tools', 'conformance.py'), '--bin', args.bin,
                          '--corpus', os.path.join(args.shared, 'corpus'), '--show', '0', '--report', rep.name],
                         capture_output=True, text=True)
    print(out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr)
    if out.returncode != 0:
        sys.exit('conformance: the script failed to run')
    report = json.load(open(rep.name))

rows = report['rows']
matched = sum(r['ok'] for r in rows)
pct = 100.0 * matched / len(rows) if rows else 0.0
listed = {}
for line in open(args.doc, encoding='utf-8'):
    for msg in re.findall(r'`([^`]+\.(?:eml|msg|txt|box|mbox))`', line):
        listed.setdefault(msg, set()).update(re.findall(r'\b(subject|from_address|from_name|body_text|attachment)\b', line))
    # "`a.eml`, `-003`, `-004` attachment" names siblings by suffix
    m = re.search(r'`([^`]+?)-(\d+)\.eml`', line)
    if m:
        for suffix in re.findall(r'`-(\d+)`', line):
            listed.setdefault('%s-%s.eml' % (m.group(1), suffix), set()).update(
                re.findall(r'\b(subject|from_address|from_name|body_text|attachment)\b', line))

failed = False
if report['failures']:
    failed = True
    for rel, err in report['failures']:
        print('not robust: %s: %s' % (rel, err))
unlisted = [r for r in rows if not r['ok'] and r['field'] not in listed.get(r['message'], set())]
for r in unlisted:
    failed = True
    print('unlisted mismatch: %s %s: expected %r, got %r' % (r['message'], r['field'], r['expected'], str(r['actual'])[:100]))
if pct < args.min:
    failed = True
    print('conformance %.1f%% is below the gate of %.1f%%' % (pct, args.min))
if failed:
    sys.exit(1)
print('conformance gate: ok (%.1f%%, %d mismatches, all listed in %s)' % (pct, len(rows) - matched, args.doc))
