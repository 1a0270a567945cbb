import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { JournalRecord, NewRecord } from '../../src/control/journal.js';
import { Journal, KEEP_CLOSED, parseRecord, replayJournal } from '../../src/control/journal.js';

const dir = mkdtempSync(join(tmpdir(), 'smig-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const id = (n: number): string => n.toString(16).padStart(32, '0');
const plan = { destination: 'h1', dataRelays: ['h2', 'h3'], keyRelays: ['h4', 'h5'], leader: 'h3', threshold: 2 };
const session = (n: number, attempt = 1): NewRecord => ({
  rec: 'session',
  id: id(n),
  trigger: id(n),
  attempt,
  source: { host: 'h0', name: 'vm' },
  reason: { kind: 'manual' },
  plan,
  deadline: 5000,
});
const outcome = { bytes: 10, sha256: 'ab'.repeat(32), seconds: 1.5, lostRelays: [], resentChunks: 0, exitStatus: null };

describe('replayJournal', () => {
  it('follows a session through its records', () => {
    const t = 1;
    const recs: JournalRecord[] = [
      { ...session(1), t } as JournalRecord,
      { rec: 'sending', id: id(1), t: 2 },
      { rec: 'result', id: id(1), ok: true, outcome, t: 3 },
      { rec: 'hook', id: id(1), event: 'make-honeypot', index: 0, phase: 'start', t: 4 },
      {
        rec: 'hook',
        id: id(1),
        event: 'make-honeypot',
        index: 0,
        phase: 'end',
        status: 3,
        error: 'exit status 3',
        t: 5,
      },
      { rec: 'hook', id: id(1), event: 'disconnect', index: 0, phase: 'start', t: 6 },
      { rec: 'honeypot', host: 'h0', on: true, t: 7 },
      { rec: 'sending', id: id(9), t: 8 },
    ];
    const warnings: string[] = [];
    const st = replayJournal(recs, warnings);
    const s = st.sessions.get(id(1))!;
    expect(s).toMatchObject({ state: 'done', outcome, closed: false, created: 1, ended: 3, attempt: 1 });
    expect([...s.hooks.entries()]).toEqual([
      ['make-honeypot#0', { started: true, ended: true, status: 3, error: 'exit status 3' }],
      ['disconnect#0', { started: true, ended: false, status: null, error: null }],
    ]);
    expect([...st.honeypots]).toEqual(['h0']);
    expect(warnings).toEqual([`'sending' record for unknown session ${id(9)} (skipped)`]);
  });

  it('parses only well-formed records', () => {
    expect(parseRecord('{"rec":"sending","t":1,"id":"x"}')).toEqual({ rec: 'sending', t: 1, id: 'x' });
    expect(parseRecord('{"rec":"sending","id":"x"}')).toBe('no time');
    expect(parseRecord('{"rec":"result","t":1,"id":"x","ok":false}')).toBe('incomplete result record');
    expect(parseRecord('{"rec":"nope","t":1}')).toBe("unknown record 'nope'");
    expect(parseRecord('{"rec":')).toBe('not JSON');
  });
});

describe('Journal', () => {
  it('appends durable records and replays them after a reopen; a cut-short last record is dropped with a warning', async () => {
    const path = join(dir, 'a.journal');
    const { journal, state, warnings } = await Journal.open(path);
    expect(state.sessions.size).toBe(0);
    expect(warnings).toEqual([]);
    expect(existsSync(`${path}.lock`)).toBe(true);
    await journal.append(session(1));
    await journal.append({ rec: 'sending', id: id(1) });
    await journal.append(session(2));
    await journal.append({ rec: 'result', id: id(2), ok: false, error: 'leader lost', retry: true });
    await journal.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
    appendFileSync(path, '{"rec":"result","id":"'); // a crash in the middle of a write
    const r = await Journal.open(path);
    expect(r.warnings).toEqual([
      `journal ${path}: the last record was cut short (22 bytes, a crash while writing; dropped)`,
    ]);
    expect(r.state.sessions.get(id(1))!.state).toBe('sending');
    expect(r.state.sessions.get(id(2))).toMatchObject({ state: 'failed', error: 'leader lost', retry: true });
    await r.journal.close();
    // the compaction rewrote the file without the broken tail
    expect(
      readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).rec),
    ).toEqual(['session', 'sending', 'session', 'result']);
  });

  it(`compacts at open: open sessions, the last ${KEEP_CLOSED} closed ones, honeypot marks that are on`, async () => {
    const path = join(dir, 'b.journal');
    const lines: string[] = ['garbage'];
    for (let n = 1; n <= KEEP_CLOSED + 5; n++) {
      lines.push(
        JSON.stringify({ ...session(n), t: n }),
        JSON.stringify({ rec: 'result', id: id(n), ok: true, outcome, t: n }),
        JSON.stringify({ rec: 'closed', id: id(n), t: n }),
      );
    }
    lines.push(JSON.stringify({ ...session(1000), t: 1 }));
    lines.push(
      JSON.stringify({ rec: 'honeypot', host: 'h0', on: true, t: 1 }),
      JSON.stringify({ rec: 'honeypot', host: 'h7', on: true, t: 1 }),
      JSON.stringify({ rec: 'honeypot', host: 'h0', on: false, t: 2 }),
    );
    writeFileSync(path, `${lines.join('\n')}\n`);
    const { journal, state, warnings } = await Journal.open(path, () => 99);
    await journal.close();
    expect(warnings).toEqual([`journal ${path} line 1: not JSON (skipped)`]);
    expect(state.sessions.size).toBe(KEEP_CLOSED + 1);
    expect(state.sessions.has(id(5))).toBe(false);
    expect(state.sessions.has(id(6))).toBe(true);
    expect(state.sessions.get(id(1000))!.state).toBe('planned');
    expect([...state.honeypots]).toEqual(['h7']);
    const after = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JournalRecord);
    expect(after).toHaveLength(KEEP_CLOSED * 3 + 2);
    expect(after.at(-1)).toEqual({ rec: 'honeypot', t: 99, host: 'h7', on: true });
    const again = await Journal.open(path);
    expect(again.state.sessions.size).toBe(KEEP_CLOSED + 1);
    expect(again.warnings).toEqual([]);
    await again.journal.close();
  });

  it('is kept from a second controller by its lock, and takes over a stale lock', async () => {
    const path = join(dir, 'c.journal');
    writeFileSync(`${path}.lock`, `${process.ppid}\n`); // a live process that is not us
    await expect(Journal.open(path)).rejects.toMatchObject({
      code: 'SMIG_ERR_FILE',
      message: `journal lock ${path}.lock: held by running process ${process.ppid} (another smig control on this journal?)`,
    });
    writeFileSync(`${path}.lock`, '2147483646\n'); // no such process
    const { journal } = await Journal.open(path);
    expect(readFileSync(`${path}.lock`, 'utf8')).toBe(`${process.pid}\n`);
    await journal.close();
  });

  it('names a journal in a missing directory', async () => {
    const path = join(dir, 'nope', 'x.journal');
    await expect(Journal.open(path)).rejects.toMatchObject({ code: 'SMIG_ERR_FILE' });
  });
});
