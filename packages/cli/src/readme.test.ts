/**
 * The README's "Your own data" section, run as written: every fenced block whose info string says
 * `file=NAME` is written to NAME, and every block marked `tt-test` runs, in order, in one fresh
 * directory: `sh` blocks in bash (`npx tt` is the built CLI), `js` blocks as an ES module with
 * `node`. So the section cannot drift from the code.
 *
 * The README's five-line `interactions.csv` shows the format; the harness appends rows in the
 * same format to it (a user's log of 2,400 rows), so that training, the split and retrieval have
 * something to work on.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeNpy } from '@tt/mips';
import { buildCli, TT_BIN } from './testing/cli-process.js';

const root = resolve(__dirname, '..', '..', '..');

interface Block {
  readonly lang: string;
  readonly info: string;
  readonly body: string;
}

/** The fenced blocks of a Markdown text, in order. */
export function fencedBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/^```([\w-]*)([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)) out.push({ lang: m[1]!, info: m[2]!.trim(), body: m[3]! });
  return out;
}

/** 200 users, 12 rows each over time (positives on distinct items, some zero-value rows), after the README's example rows. */
function userLog(): string {
  const lines: string[] = [];
  let t = 1717000400;
  for (let k = 0; k < 12; k++) {
    for (let u = 1; u <= 200; u++) {
      const item = ((u * 7 + k * 13) % 150) + 1;
      lines.push(`u${u},i${item},${(t += 7)},1,${(u + k) % 5 === 0 ? 1 : 0}`);
      if ((u + k) % 4 === 0) lines.push(`u${u},i${((u * 11 + k * 3) % 150) + 1},${(t += 7)},0,0`);
    }
  }
  return `${lines.join('\n')}\n`;
}

let dir: string;
const cwd = process.cwd();
beforeAll(() => {
  buildCli();
  // inside node_modules, so `import '@tt/core'` in the library block resolves to this workspace's packages
  dir = mkdtempSync(join(root, 'node_modules', '.tt-readme-'));
});
afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

describe('README "Your own data"', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Your own data'), readme.indexOf('\n## ', readme.indexOf('## Your own data') + 3));
  const blocks = fencedBlocks(section);

  it('has the files, commands and library example the issue asks for', () => {
    const tested = blocks.filter((b) => /\btt-test\b/.test(b.info));
    const files = blocks.filter((b) => /\bfile=/.test(b.info)).map((b) => /file=(\S+)/.exec(b.info)![1]);
    expect(files).toEqual(['interactions.csv', 'item_features.csv', 'users.txt']);
    expect(blocks.find((b) => b.info.includes('file=interactions.csv'))!.body.trim().split('\n')).toHaveLength(5);
    const sh = tested.filter((b) => b.lang === 'sh').map((b) => b.body).join('\n');
    for (const command of ['tt data inspect', 'tt train', 'tt retrieve', 'index/vectors.npy']) expect(sh).toContain(command);
    const js = tested.filter((b) => b.lang === 'js');
    expect(js).toHaveLength(1);
    expect(js[0]!.body.trim().split('\n').length).toBeLessThan(40);
  });

  it('runs as written: inspect, split, train, retrieve for a user list, embeddings out, the library example', () => {
    const outputs: string[] = [];
    for (const block of blocks) {
      const file = /file=(\S+)/.exec(block.info)?.[1];
      if (file) {
        writeFileSync(join(dir, file), block.body);
        if (file === 'interactions.csv') appendFileSync(join(dir, file), userLog());
        continue;
      }
      if (!/\btt-test\b/.test(block.info)) continue;
      if (block.lang === 'sh') {
        const script = block.body.replace(/\bnpx tt\b/g, `"${process.execPath}" "${TT_BIN}"`);
        outputs.push(execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, TT_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] }));
      } else if (block.lang === 'js') {
        writeFileSync(join(dir, 'example.mjs'), block.body);
        outputs.push(execFileSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, TT_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] }));
      } else throw new Error(`a tt-test block in ${block.lang}: the harness runs sh and js`);
    }
    const all = outputs.join("\n");
    if (process.env.TT_README_SHOW) console.log(all);
    // inspect on the file and on the split; train's metrics and checkpoint
    expect(all).toMatch(/training: \d+ rows, 200 users/);
    expect(all).toMatch(/unreachable under full ranking .*: \d+ rows/);
    expect(all).toMatch(/two-tower +\d/);
    expect(all).toContain('checkpoint:');
    // retrieval for the user list
    const recs = readFileSync(join(dir, 'recommendations.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(recs.map((r) => r.user_id)).toEqual(['u1', 'u2']);
    for (const r of recs) expect(r.items).toHaveLength(10);
    // the checkpoint's item vectors, and the library's exports
    const ids = JSON.parse(readFileSync(join(dir, 'my-model', 'index', 'ids.json'), 'utf8')).ids;
    expect(decodeNpy(readFileSync(join(dir, 'my-model', 'index', 'vectors.npy'))).shape).toEqual([ids.length, 64]);
    const items = decodeNpy(readFileSync(join(dir, 'item_embeddings.npy')));
    expect(items.shape).toEqual([JSON.parse(readFileSync(join(dir, 'item_ids.json'), 'utf8')).length, 64]);
    expect(decodeNpy(readFileSync(join(dir, 'user_embeddings.npy'))).shape).toEqual([2, 64]);
    expect(all).toMatch(/^u1 \S+( \S+){9}$/m);
    expect(existsSync(join(dir, 'my-library-model', 'checkpoint.json'))).toBe(true);
  }, 300_000);
});
