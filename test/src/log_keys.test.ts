// The duplicate-key detector the process tests rely on (issue 10: a child logger that rebinds a
// key of its parent writes it twice, and JSON parsers keep one or the other): it must see keys
// only at the top level, outside strings, and report each repetition.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duplicateTopLevelKeys } from './run_process.js';

test('duplicateTopLevelKeys finds repeated top-level keys and nothing nested or quoted', () => {
  assert.deepEqual(
    duplicateTopLevelKeys('{"module":"coordinator","module":"rendezvous","a":{"module":1},"s":"x\\"module\\",","b":[{"a":1,"a":2}]}'),
    ['module'],
  );
  assert.deepEqual(duplicateTopLevelKeys('{"rank":1,"workerId":"w","x":[1,2],"rank":2,"workerId":"w"}'), ['rank', 'workerId']);
  assert.deepEqual(duplicateTopLevelKeys('{"a":1,"b":"}","c":{"a":2}}'), []);
});
