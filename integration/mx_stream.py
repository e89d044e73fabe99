"""One mail host's delivery stream, as a process of its own (test_postgres.py starts three).

    python3 mx_stream.py URI MESSAGES_DIR INDICES_FILE CONCURRENCY RESULT_JSON

Delivers MESSAGES_DIR/<i>.eml for every index i in INDICES_FILE (one a line, in that order)
with `wt-deliver --db URI`, CONCURRENCY at a time, and retries every exit 75 (as the MTA's
queue would) until the delivery exits 0 or a deadline passes. Writes, per index, the exit
statuses it saw, and when each 75 happened.
"""
import concurrent.futures
import json
import os
import random
import subprocess
import sys
import time

from conftest import DELIVER

DEADLINE = 240


def main(uri, folder, indices_file, concurrency, out):
    indices = [int(line) for line in open(indices_file) if line.strip()]
    start = time.monotonic()
    rng = random.Random(os.getpid())

    def one(i):
        data = open(os.path.join(folder, '%d.eml' % i), 'rb').read()
        seen, tempfails, errors = [], [], []
        while True:
            t = time.monotonic() - start
            p = subprocess.run([DELIVER, '--db', uri, '-f', 'ann@example.org', '--', 'helpdesk@wt.test'],
                               input=data, capture_output=True, timeout=180)
            seen.append(p.returncode)
            if p.returncode != 0 and len(errors) < 3:
                errors.append(p.stderr.decode('utf-8', 'replace')[-300:])
            if p.returncode != 75 or time.monotonic() - start > DEADLINE:
                break
            tempfails.append(round(t, 3))
            time.sleep(rng.uniform(0.05, 0.25))
        return i, seen, tempfails, errors

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, indices))
    with open(out + '.tmp', 'w') as f:
        json.dump({'seconds': time.monotonic() - start,
                   'results': [{'i': i, 'codes': c, 'tempfails_at': t, 'errors': e} for i, c, t, e in results]}, f)
    os.rename(out + '.tmp', out)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
