#!/usr/bin/env python3
"""tt_torch: tt's two-tower model in PyTorch, for handing training to PyTorch and back.

A reference module (not a package): it rebuilds a tt checkpoint's towers (MODEL.md sections 1
and 2: user and item towers with the base tower's history pooling, the history encoder's plain
and pre-norm stacks) from the
checkpoint's config and safetensors, computes the same user and item embeddings as tt, trains
them with tt's weighted in-batch softmax, and saves the state_dict for `tt import`.

    python3 tt_torch.py embed --checkpoint DIR --out DIR       users.npy, items.npy (float32)
    python3 tt_torch.py check --checkpoint DIR --against DIR   compare with `tt export --format npy`
                                                               (--weights FILE: a state_dict over the checkpoint's)
    python3 tt_torch.py train --checkpoint DIR --out FILE      fine-tune on the checkpoint's seen items,
                                                               save the state_dict (safetensors)
    python3 tt_torch.py save --checkpoint DIR --out FILE       the state_dict as loaded, no training

Parameter names: PyTorch's `X.weight` [out, in] is tt's `X.w` [in, out] (nn.Linear), `X.bias` is
`X.b`, a LayerNorm's `X.weight` / `X.bias` are tt's `X.gamma` / `X.beta`, and nn.Embedding's
`X.weight` is tt's table `X`. `tt import --weights FILE --like DIR --checkpoint OUT` reads them.

Stages other than `history` add no input to the towers (debias, light-ranker, distill and
reward-align act on the loss and the re-ranking), so embeddings do not depend on them; their
parameters are not modelled here (`tt import --partial` keeps them from the template checkpoint).

Requires torch and numpy (Debian: python3-torch). safetensors files are read and written by the
`safetensors` package when it is installed, else by the few lines below (the format is an 8-byte
little-endian header length, a JSON header, then the raw little-endian tensors).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:  # the official reader, when installed
    import safetensors.numpy as _st
except ImportError:  # Debian has no package for it: our own reader and writer below
    _st = None

_DTYPES = {'F32': '<f4', 'F64': '<f8', 'I32': '<i4', 'I64': '<i8', 'F16': '<f2'}


def read_safetensors(path):
    """The tensors (numpy arrays) and the `__metadata__` string map of a safetensors file."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop('__metadata__', {}) or {}
    if _st is not None:
        return _st.load(raw), metadata
    body = memoryview(raw)[8 + n:]
    tensors = {}
    for name, e in header.items():
        if e['dtype'] not in _DTYPES:
            raise ValueError(f'{path}: tensor {name} has dtype {e["dtype"]}, not one of {sorted(_DTYPES)}')
        start, end = e['data_offsets']
        tensors[name] = np.frombuffer(body[start:end], dtype=_DTYPES[e['dtype']]).reshape(e['shape']).copy()
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes numpy arrays (C order) as safetensors, with an optional string metadata map."""
    if _st is not None:
        _st.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path, metadata=metadata)
        return
    names = {v: k for k, v in _DTYPES.items()}
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        code = names[a.dtype.str]
        b = a.astype(_DTYPES[code], copy=False).tobytes()
        header[name] = {'dtype': code, 'shape': list(a.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header['__metadata__'] = metadata
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def _mix32(x):
    """tt's murmur3 finaliser (nn/embedding.ts), for ids at or beyond a table's rows."""
    x &= 0xFFFFFFFF
    x = ((x ^ (x >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    x = ((x ^ (x >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    return (x ^ (x >> 16)) & 0xFFFFFFFF


def table_rows(ids, rows):
    """Table rows of dense ids: identity below `rows`, hashed above; -1 (padding) stays -1."""
    ids = np.asarray(ids, dtype=np.int64)
    out = ids.copy()
    for i in np.flatnonzero(ids >= rows):
        out.flat[i] = _mix32(int(ids.flat[i])) % rows
    return torch.from_numpy(out)


def _linear(n_in, n_out):
    return nn.Linear(n_in, n_out)


class Mlp(nn.ModuleList):
    """in -> hidden (ReLU) -> out; tt's `<name>.<i>.w` layers (nn/dense.ts), keys `<name>.<i>.weight`."""

    def __init__(self, dims):
        super().__init__(_linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, layer in enumerate(self):
            x = layer(x)
            if i + 1 < len(self):
                x = F.relu(x)
        return x


def positional_table(H, D):
    """tt's reversed sinusoidal table (history-encoder/encoder.ts): row i encodes position H-1-i."""
    out = np.zeros((H, D), dtype=np.float64)
    for i in range(H):
        pos = H - 1 - i
        for j in range(D):
            angle = pos / math.pow(10000, (2 * j) / D)
            out[i, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return torch.from_numpy(out.astype(np.float32))


class Attention(nn.Module):
    def __init__(self, D):
        super().__init__()
        self.q = _linear(D, D)
        self.kv = _linear(D, 2 * D)
        self.out = _linear(D, D)


class Layer(nn.Module):
    def __init__(self, D, prenorm):
        super().__init__()
        self.attention = Attention(D)
        if prenorm:
            self.norm1 = nn.LayerNorm(D, eps=1e-6)
            self.norm2 = nn.LayerNorm(D, eps=1e-6)
            self.ff = Mlp([D, D, D])


class HistoryEncoder(nn.Module):
    """MODEL.md section 2: masked mean + self-attention over the newest-first history; `[n, 2D]`."""

    def __init__(self, D, options):
        super().__init__()
        self.D = D
        self.H = options.get('maxLength', 20)
        self.heads = options.get('heads', 4)
        self.block = options.get('block', 'plain')
        layers = options.get('layers', 1)
        self.layers = nn.ModuleList(Layer(D, self.block == 'prenorm') for _ in range(layers))
        if self.block == 'prenorm' and layers > 0:
            self.norm = nn.LayerNorm(D, eps=1e-6)
        self.register_buffer('positions', positional_table(self.H, D), persistent=False)

    def _attend(self, layer, q_in, kv_in, key_bias):
        n, Lq, D = q_in.shape
        L = kv_in.shape[1]
        h, dh = self.heads, D // self.heads
        q = layer.attention.q(q_in).view(n, Lq, h, dh).transpose(1, 2)
        k, v = layer.attention.kv(kv_in).split(D, dim=-1)
        k = k.reshape(n, L, h, dh).transpose(1, 2)
        v = v.reshape(n, L, h, dh).transpose(1, 2)
        scores = (q * (1 / math.sqrt(dh))) @ k.transpose(-1, -2) + key_bias[:, None, None, :]
        o = torch.softmax(scores, dim=-1) @ v
        return layer.attention.out(o.transpose(1, 2).reshape(n, Lq, D))

    def forward(self, history, item_embedding):
        """history: LongTensor [n, H] of item indices, newest first, -1 padding."""
        n, H = history.shape
        valid = (history >= 0).to(item_embedding.weight.dtype)
        count = valid.sum(1, keepdim=True)
        e = item_embedding(history.clamp(min=0)) * valid[..., None]
        mean = e.sum(1) / count.clamp(min=1)
        key_bias = (1 - valid) * -1e9
        x = e + self.positions[:H].to(e.dtype)
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            if self.block == 'prenorm':
                h_in = layer.norm1(x)
                a = self._attend(layer, h_in[:, :1] if last else h_in, h_in, key_bias)
                y = (x[:, :1] if last else x) + a
                y = y + layer.ff(layer.norm2(y))
            else:
                y = self._attend(layer, x[:, :1] if last else x, x, key_bias)
            x = y
        first = x[:, 0]
        if self.block == 'prenorm' and len(self.layers) > 0:
            first = self.norm(first)
        first = first * (count > 0).to(first.dtype)
        return torch.cat([first, mean], dim=1)


class PositionLogits(nn.Module):
    """tt's `user.history.positions` [H] (key `user.history.positions.weight`)."""

    def __init__(self, H):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(H))


class HistoryPooling(nn.Module):
    """The base user tower's history pooling (config `historyPooling`, model/two-tower.ts): the
    item embeddings of the newest H history entries averaged with weights softmax(a) over the
    valid positions (a [H] learned); zeros for a row without history."""

    def __init__(self, H):
        super().__init__()
        self.H = H
        self.positions = PositionLogits(H)

    def forward(self, history, item_embedding):
        h = history[:, :self.H]
        valid = h >= 0
        logits = self.positions.weight[None, :h.shape[1]].to(item_embedding.weight.dtype).expand(h.shape)
        logits = logits.masked_fill(~valid, -1e9)
        w = torch.softmax(logits, 1) * valid.any(1, keepdim=True).to(logits.dtype)
        return (w[..., None] * item_embedding(h.clamp(min=0))).sum(1)


class Tower(nn.Module):
    def __init__(self, rows, D, feature_dim, hidden, extra, history_pooling=0):
        super().__init__()
        self.embedding = nn.Embedding(rows, D)
        if feature_dim > 0:
            self.mlp = Mlp([feature_dim, hidden, D])
        if history_pooling > 0:
            self.history = HistoryPooling(history_pooling)
        self.projection = _linear(D + (D if feature_dim > 0 else 0) + (D if history_pooling > 0 else 0) + extra, D)


class TwoTower(nn.Module):
    """tt's two-tower model (config: a checkpoint's `model`), parameter names as tt's."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        D, hidden, schema = config['dim'], config['hidden'], config['schema']
        stages = [s for s in config.get('stages', []) if s['name'] == 'history']
        extra = 2 * D if stages else 0
        self.user = Tower(config['userRows'], D, schema['userFeatureDim'], hidden, extra, config.get('historyPooling', 0))
        self.item = Tower(config['itemRows'], D, schema['itemFeatureDim'], hidden, 0)
        if stages:
            self.stages = nn.Module()
            self.stages.history = HistoryEncoder(D, stages[0].get('options', {}))

    @property
    def history_length(self):
        """History entries per user the towers read (tt's `model.historyLength`)."""
        pooled = self.user.history.H if hasattr(self.user, 'history') else 0
        return max(pooled, self.stages.history.H if hasattr(self, 'stages') else 0)

    def _normalize(self, x):
        return x * torch.rsqrt((x * x).sum(1, keepdim=True) + 1e-12) if self.config['normalize'] else x

    def user_embeddings(self, users, features=None, history=None):
        """q [n, D]: users are dense user indices; history item indices [n, H] (-1 padding)."""
        parts = [self.user.embedding(table_rows(users, self.config['userRows']).to(self.user.embedding.weight.device))]
        if hasattr(self.user, 'mlp'):
            parts.append(self.user.mlp(features))
        h = table_rows(history, self.config['itemRows']) if self.history_length else None
        if hasattr(self.user, 'history'):
            parts.append(self.user.history(h, self.item.embedding))
        if hasattr(self, 'stages'):
            parts.append(self.stages.history(h[:, :self.stages.history.H], self.item.embedding))
        return self._normalize(self.user.projection(torch.cat(parts, 1)))

    def item_embeddings(self, items, features=None):
        """v [n, D]: items are dense item indices."""
        parts = [self.item.embedding(table_rows(items, self.config['itemRows']))]
        if hasattr(self.item, 'mlp'):
            parts.append(self.item.mlp(features))
        return self._normalize(self.item.projection(torch.cat(parts, 1)))


def tt_to_torch(name, array):
    """A tt parameter as its PyTorch state_dict key and value."""
    if name.endswith('.w'):
        return name[:-2] + '.weight', array.T
    if name.endswith('.b'):
        return name[:-2] + '.bias', array
    if name.endswith('.gamma'):
        return name[:-6] + '.weight', array
    if name.endswith('.beta'):
        return name[:-5] + '.bias', array
    return name + '.weight', array


class Checkpoint:
    """A tt checkpoint directory: config, weights, catalogue, seen items, histories."""

    def __init__(self, path):
        with open(os.path.join(path, 'checkpoint.json')) as f:
            manifest = json.load(f)
        if manifest.get('format') != 'tt.checkpoint':
            raise ValueError(f'{path}: not a tt checkpoint (format {manifest.get("format")!r})')
        self.path = path
        self.config = manifest['model']
        weights, _ = read_safetensors(os.path.join(path, 'weights.safetensors'))
        catalogue, _ = read_safetensors(os.path.join(path, 'catalogue.safetensors'))
        with open(os.path.join(path, 'catalogue.json')) as f:
            ids = json.load(f)
        self.user_ids, self.item_ids = ids['userIds'], ids['itemIds']
        self.user_features = torch.from_numpy(catalogue['user_features'])
        self.item_features = torch.from_numpy(catalogue['item_features'])
        self.seen = None
        if 'seen.safetensors' in manifest['files']:
            s, _ = read_safetensors(os.path.join(path, 'seen.safetensors'))
            self.seen = (s['offsets'], s['values'])
        self.histories = None
        if 'histories.safetensors' in manifest['files']:
            h, _ = read_safetensors(os.path.join(path, 'histories.safetensors'))
            self.histories = h['histories']
        self.model = TwoTower(self.config)
        own = {k for k, _ in self.model.state_dict().items()}
        state = {}
        for name, array in weights.items():
            key, value = tt_to_torch(name, array)
            if key in own:
                state[key] = torch.from_numpy(np.ascontiguousarray(value))
        missing = own - set(state)
        if missing:
            raise ValueError(f'{path}: weights lack {sorted(missing)} for this config (dim {self.config["dim"]})')
        for key, value in state.items():
            want = tuple(self.model.state_dict()[key].shape)
            if tuple(value.shape) != want:
                raise ValueError(f'{path}: {key} has shape {tuple(value.shape)}, the config gives {want}')
        self.model.load_state_dict(state)
        self.model.eval()

    def embeddings(self, dtype=torch.float32, chunk=4096):
        """(users [U, D], items [I, D]) as tt computes them for serving (stored histories)."""
        m = self.model.to(dtype)
        U, I = len(self.user_ids), len(self.item_ids)
        H = m.history_length
        with torch.no_grad():
            items = torch.cat([m.item_embeddings(np.arange(s, min(I, s + chunk)), self.item_features[s:s + chunk].to(dtype))
                               for s in range(0, I, chunk)])
            users = []
            for s in range(0, U, chunk):
                idx = np.arange(s, min(U, s + chunk))
                hist = None
                if H:
                    stored = self.histories[idx][:, :H] if self.histories is not None else np.full((len(idx), H), -1)
                    hist = np.asarray(stored, dtype=np.int64)
                users.append(m.user_embeddings(idx, self.user_features[idx].to(dtype), hist))
        return torch.cat(users).to(torch.float32).numpy(), items.to(torch.float32).numpy()

    def load_torch_weights(self, path):
        """Replaces the weights by a state_dict file (PyTorch names, as `train` and `save` write)."""
        state, _ = read_safetensors(path)
        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)

    def state_for_tt(self):
        """The model's state_dict as numpy float32 arrays (PyTorch names)."""
        return {k: v.detach().to(torch.float32).contiguous().numpy() for k, v in self.model.state_dict().items()}


def train(ck, steps, batch_size, lr, seed):
    """Fine-tunes both towers with tt's in-batch softmax on pairs drawn from the seen items."""
    if ck.seen is None:
        raise ValueError(f'{ck.path}: no seen.safetensors to draw training pairs from')
    offsets, values = ck.seen
    users = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    m = ck.model.to(torch.float32)
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    H = m.history_length
    losses = []
    for _ in range(steps):
        pick = rng.integers(0, len(users), size=min(batch_size, len(users)))
        u, i = users[pick], values[pick].astype(np.int64)
        hist = None
        if H:
            hist = np.asarray(ck.histories[u][:, :H], dtype=np.int64) if ck.histories is not None else np.full((len(u), H), -1)
        q = m.user_embeddings(u, ck.user_features[u], hist)
        v = m.item_embeddings(i, ck.item_features[i])
        logits = (q @ v.T) / ck.config['temperature']
        same = torch.from_numpy(i[:, None] == i[None, :]) & ~torch.eye(len(i), dtype=torch.bool)
        logits = logits.masked_fill(same, -1e9)  # accidental hits
        loss = F.cross_entropy(logits, torch.arange(len(i)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    m.eval()
    return losses


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='command', required=True)
    e = sub.add_parser('embed', help='users.npy and items.npy of a checkpoint')
    e.add_argument('--checkpoint', required=True)
    e.add_argument('--out', required=True)
    e.add_argument('--float64', action='store_true', help='compute in float64')
    e.add_argument('--weights', help='a state_dict file (from train or save) over the checkpoint\'s weights')
    c = sub.add_parser('check', help='max abs difference against `tt export --format npy`')
    c.add_argument('--checkpoint', required=True)
    c.add_argument('--against', required=True, help='the directory `tt export --format npy` wrote')
    c.add_argument('--tolerance', type=float, default=1e-5)
    c.add_argument('--weights', help='a state_dict file (from train or save) over the checkpoint\'s weights')
    t = sub.add_parser('train', help='fine-tune on the seen items, save the state_dict for `tt import`')
    t.add_argument('--checkpoint', required=True)
    t.add_argument('--out', required=True)
    t.add_argument('--steps', type=int, default=50)
    t.add_argument('--batch-size', type=int, default=256)
    t.add_argument('--lr', type=float, default=1e-3)
    t.add_argument('--seed', type=int, default=0)
    s = sub.add_parser('save', help='the state_dict as loaded, for `tt import`')
    s.add_argument('--checkpoint', required=True)
    s.add_argument('--out', required=True)
    a = p.parse_args(argv)
    if _st is None:
        print('tt_torch: the safetensors module is not installed; using the built-in reader/writer', file=sys.stderr)
    ck = Checkpoint(a.checkpoint)
    if getattr(a, 'weights', None):
        ck.load_torch_weights(a.weights)
    if a.command == 'embed':
        users, items = ck.embeddings(torch.float64 if a.float64 else torch.float32)
        os.makedirs(a.out, exist_ok=True)
        np.save(os.path.join(a.out, 'users.npy'), users)
        np.save(os.path.join(a.out, 'items.npy'), items)
        print(json.dumps({'users': list(users.shape), 'items': list(items.shape)}))
    elif a.command == 'check':
        users, items = ck.embeddings()
        theirs_u = np.load(os.path.join(a.against, 'users.npy'))
        theirs_i = np.load(os.path.join(a.against, 'items.npy'))
        if theirs_u.shape != users.shape or theirs_i.shape != items.shape:
            raise ValueError(f'shapes differ: tt {theirs_u.shape}, {theirs_i.shape}; here {users.shape}, {items.shape}')
        du = float(np.abs(users - theirs_u).max())
        di = float(np.abs(items - theirs_i).max())
        ok = du <= a.tolerance and di <= a.tolerance
        print(json.dumps({'users': len(users), 'items': len(items), 'historyLength': ck.model.history_length,
                          'userMaxAbsDiff': du, 'itemMaxAbsDiff': di, 'tolerance': a.tolerance, 'ok': ok}))
        return 0 if ok else 1
    else:
        losses = train(ck, a.steps, a.batch_size, a.lr, a.seed) if a.command == 'train' else []
        write_safetensors(a.out, ck.state_for_tt(), {'format': 'tt.torch/1', 'tt.config': json.dumps(ck.config)})
        print(json.dumps({'out': a.out, 'steps': len(losses), 'firstLoss': losses[0] if losses else None,
                          'lastLoss': losses[-1] if losses else None}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
