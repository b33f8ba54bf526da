"""Scores `tt retrieve` output against a table of true values, outside tt (EVAL.md section 2).

An independent check of what `tt train --truth` / `tt bench stages` report: reads a world export
(`tt world export NAME DIR`: `truth.npy` [users, items] by integer id, `train.csv`) and the JSON lines
of `tt retrieve --k 100`, and prints one JSON line: alignment@10/100 (the share of the user's true
top 10, over the catalogue minus the items of the user's training rows, inside the retrieved 100) and
value@10 (the true value of the first 10 retrieved over that of the true top 10), averaged over users.

  npx tt retrieve --checkpoint CK --users users.txt --k 100 > retrieved.jsonl
  /usr/bin/python3 tools/bench/score-retrieved.py --world DIR --retrieved retrieved.jsonl
"""
import argparse
import csv
import json

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--world', required=True, help='a `tt world export` directory (truth.npy, train.csv)')
    p.add_argument('--retrieved', required=True, help='JSON lines of `tt retrieve` ({"user_id", "items"})')
    a = p.parse_args()
    truth = np.load(f'{a.world}/truth.npy')
    seen = {}
    with open(f'{a.world}/train.csv', newline='') as f:
        rows = csv.reader(f)
        header = next(rows)
        u_col, i_col = header.index('user_id'), header.index('item_id')
        for row in rows:
            seen.setdefault(int(row[u_col]), set()).add(int(row[i_col]))
    alignment = value = 0.0
    users = 0
    with open(a.retrieved) as f:
        for line in f:
            answer = json.loads(line)
            user = int(answer['user_id'])
            items = [int(i) for i in answer['items']]
            v = truth[user].astype(np.float64)
            masked = v.copy()
            masked[list(seen.get(user, ()))] = -np.inf
            top = np.argsort(-masked, kind='stable')[:10]
            alignment += len(set(top.tolist()) & set(items[:100])) / len(top)
            value += v[items[:10]].sum() / v[top].sum()
            users += 1
    print(json.dumps({'users': users, 'alignment@10/100': alignment / users, 'value@10': value / users}))


if __name__ == '__main__':
    main()
