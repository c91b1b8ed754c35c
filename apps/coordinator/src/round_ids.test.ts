// RoundIds on real files: numbers never repeat across coordinator lives, however a life ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from './coordinator_config.js';
import { LEGACY_FLOOR, ROUND_BLOCK, RoundIds } from './round_ids.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'round-ids-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a fresh run counts from 1 and a resumed life never repeats a number of an earlier one', () =>
  withDir(async (dir) => {
    const seen = new Set<number>();
    let last = 0;
    const life = (resume: boolean, count: number): void => {
      const ids = RoundIds.open(dir, resume);
      for (let i = 0; i < count; i += 1) {
        const id = ids.next();
        assert.ok(!seen.has(id), `round ${id} handed out twice`);
        assert.ok(id > last, `round ${id} must be above the previous ${last}`);
        seen.add(id);
        last = id;
      }
    };
    const first = RoundIds.open(dir, false);
    assert.equal(first.next(), 1);
    assert.equal(first.next(), 2);
    seen.add(1).add(2);
    last = 2;
    // The case: life 1 aborted round 2; life 2 (--resume) must not start at 1 again.
    life(true, 5);
    // A life that crosses a block boundary, then two more lives (each ends without any shutdown
    // step: the process may be SIGKILLed at any point).
    life(true, ROUND_BLOCK + 3);
    life(true, 1);
    life(true, 1);
    const floor = JSON.parse(await readFile(join(dir, 'rounds.json'), 'utf8')) as { nextFreeRound: number };
    assert.ok(floor.nextFreeRound > last);
  }));

test('a resumed folder without rounds.json (an older coordinator) starts above anything it could have used', () =>
  withDir(async (dir) => {
    const ids = RoundIds.open(dir, true);
    assert.equal(ids.origin, 'legacy');
    assert.equal(ids.next(), LEGACY_FLOOR);
    assert.equal(RoundIds.open(dir, true).next(), LEGACY_FLOOR + ROUND_BLOCK);
  }));

test('a damaged rounds.json is refused with a ConfigError naming the file', () =>
  withDir(async (dir) => {
    await writeFile(join(dir, 'rounds.json'), '{"nextFreeRound": -3}\n');
    assert.throws(
      () => RoundIds.open(dir, true),
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes(join(dir, 'rounds.json')) && err.message.includes('nextFreeRound'),
    );
  }));

test('running out of uint32 round numbers is an error, not a wrap-around', () =>
  withDir(async (dir) => {
    await writeFile(join(dir, 'rounds.json'), JSON.stringify({ nextFreeRound: 0xffffffff }));
    const ids = RoundIds.open(dir, true);
    assert.equal(ids.next(), 0xffffffff);
    assert.throws(() => ids.next(), /every round number up to 4294967295/);
  }));
