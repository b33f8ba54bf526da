"""SASRec with a full softmax (cross-entropy over the whole catalogue), as a measuring instrument.

The sequential reference the real-data issue compares tt's history model with: self-attentive
sequential recommendation (Kang & McAuley, ICDM 2018) trained, as Klenitskiy & Vasilev (RecSys
2023) showed it should be, with cross-entropy over every item instead of one sampled negative.
Same file and protocol as `tt train --data sequence:FILE` (EVAL.md loo-full): each user's last
item is the test item, the one before it validation (early stopping), every item of the catalogue
is ranked with the user's earlier items removed; users with fewer than 2 interactions are not
evaluated. Prints one JSON object.

    /usr/bin/python3 tools/reference/sasrec_ref.py --data ../shared/data/amazon-games/Video.txt --threads 2

Needs Debian's python3-torch (see ../shared/reference/README.md).
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_sequences(path):
    """`user item` lines, grouped by user, chronological within a user -> {user: [items]}, item count."""
    seqs, items = {}, {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValueError(f'{path}:{n}: expected "user item", got {line.strip()!r}')
            u, i = parts
            idx = items.setdefault(i, len(items) + 1)  # 0 is padding
            seqs.setdefault(u, []).append(idx)
    return list(seqs.values()), len(items)


class SASRec(nn.Module):
    def __init__(self, num_items, dim, max_len, blocks, heads, dropout):
        super().__init__()
        self.items = nn.Embedding(num_items + 1, dim, padding_idx=0)
        # std dim^-1/2: inputs (times sqrt(dim)) near unit scale, tied output logits near unit sd
        nn.init.normal_(self.items.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.items.weight[0].zero_()
        self.positions = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.attn_norms = nn.ModuleList(nn.LayerNorm(dim, eps=1e-8) for _ in range(blocks))
        self.attns = nn.ModuleList(nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True) for _ in range(blocks))
        self.ff_norms = nn.ModuleList(nn.LayerNorm(dim, eps=1e-8) for _ in range(blocks))
        self.ffs = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim), nn.Dropout(dropout)) for _ in range(blocks)
        )
        self.last_norm = nn.LayerNorm(dim, eps=1e-8)
        self.dim = dim
        self.register_buffer('causal', torch.triu(torch.ones(max_len, max_len, dtype=torch.bool), 1))

    def forward(self, seq):
        """seq [B, L] item indices, left-padded with 0 -> hidden states [B, L, D]."""
        L = seq.shape[1]
        x = self.items(seq) * math.sqrt(self.dim) + self.positions(torch.arange(L, device=seq.device))[None]
        x = self.drop(x)
        pad = seq == 0
        x = x * (~pad)[..., None]
        for norm, attn, ff_norm, ff in zip(self.attn_norms, self.attns, self.ff_norms, self.ffs):
            q = norm(x)
            a, _ = attn(q, x, x, attn_mask=self.causal[:L, :L], need_weights=False)
            x = q + a  # the original's residual is taken from the normalised query
            x = x + ff(ff_norm(x))
            x = x * (~pad)[..., None]
        return self.last_norm(x)

    def logits(self, h):
        return h @ self.items.weight.T


def left_pad(seqs, max_len):
    out = torch.zeros(len(seqs), max_len, dtype=torch.long)
    for r, s in enumerate(seqs):
        s = s[-max_len:]
        if s:
            out[r, max_len - len(s):] = torch.tensor(s)
    return out


@torch.no_grad()
def evaluate(model, inputs, targets, max_len, batch=512):
    """HR@10 (= recall@10), recall@20, NDCG@10 over users: full ranking, the input's items removed."""
    model.eval()
    hits10 = hits20 = ndcg = 0.0
    for start in range(0, len(inputs), batch):
        part = inputs[start:start + batch]
        h = model(left_pad(part, max_len))[:, -1]
        scores = model.logits(h)
        scores[:, 0] = -math.inf
        for r, s in enumerate(part):
            scores[r, torch.tensor(s)] = -math.inf
        t = torch.tensor(targets[start:start + batch])
        target_score = scores[torch.arange(len(part)), t]
        rank = (scores > target_score[:, None]).sum(1)  # 0-based
        hits10 += (rank < 10).sum().item()
        hits20 += (rank < 20).sum().item()
        ndcg += torch.where(rank < 10, 1.0 / torch.log2(rank.float() + 2), torch.zeros(())).sum().item()
    n = len(inputs)
    model.train()
    return {'hr@10': hits10 / n, 'recall@20': hits20 / n, 'ndcg@10': ndcg / n}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--data', required=True)
    p.add_argument('--dim', type=int, default=64)
    p.add_argument('--max-len', type=int, default=50)
    p.add_argument('--blocks', type=int, default=2)
    p.add_argument('--heads', type=int, default=1)
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--epochs', type=int, default=200)
    p.add_argument('--eval-every', type=int, default=5)
    p.add_argument('--patience', type=int, default=3, help='evaluations without a better validation ndcg@10')
    p.add_argument('--max-minutes', type=float, default=90)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    seqs, num_items = read_sequences(a.data)
    train = [s[:-2] for s in seqs if len(s) >= 3]  # targets: every next item of seq[:-2]
    val_in = [s[:-2] for s in seqs if len(s) >= 3]
    val_t = [s[-2] for s in seqs if len(s) >= 3]
    test_in = [s[:-1] for s in seqs if len(s) >= 2]
    test_t = [s[-1] for s in seqs if len(s) >= 2]
    train = [s for s in train if len(s) >= 2]

    model = SASRec(num_items, a.dim, a.max_len, a.blocks, a.heads, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.98))
    gen = torch.Generator().manual_seed(a.seed)
    best, best_state, best_epoch, bad, history = -1.0, None, 0, 0, []
    t0 = time.time()
    examples = 0
    epoch = 0
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(len(train), generator=gen).tolist()
        for start in range(0, len(order), a.batch):
            part = [train[k] for k in order[start:start + a.batch]]
            full = left_pad(part, a.max_len + 1)
            inp, tgt = full[:, :-1], full[:, 1:]
            valid = (inp != 0) & (tgt != 0)
            h = model(inp)[valid]  # only the positions with a next item: [P, D]
            loss = F.cross_entropy(model.logits(h), tgt[valid])
            opt.zero_grad()
            loss.backward()
            opt.step()
            examples += int(valid.sum())
        if epoch % a.eval_every == 0 or epoch == a.epochs:
            v = evaluate(model, val_in, val_t, a.max_len)
            history.append({'epoch': epoch, 'loss': round(loss.item(), 4), **{k: round(x, 4) for k, x in v.items()}, 'minutes': round((time.time() - t0) / 60, 1)})
            print(json.dumps(history[-1]), flush=True)
            if v['ndcg@10'] > best:
                best, best_epoch, bad = v['ndcg@10'], epoch, 0
                best_state = {k: t.clone() for k, t in model.state_dict().items()}
            else:
                bad += 1
                if bad >= a.patience:
                    break
        if (time.time() - t0) / 60 > a.max_minutes:
            break
    train_s = time.time() - t0
    model.load_state_dict(best_state)
    test = evaluate(model, test_in, test_t, a.max_len)
    print(json.dumps({
        'model': 'SASRec, full softmax', 'data': a.data, 'users_evaluated': len(test_in), 'items': num_items,
        'config': {k: v for k, v in vars(a).items() if k != 'data'},
        'epochs': epoch, 'best_epoch': best_epoch, 'train_seconds': round(train_s, 1),
        'examples_per_s': round(examples / train_s), 'test': {k: round(x, 4) for k, x in test.items()}, 'validation': history,
    }))


if __name__ == '__main__':
    main()
