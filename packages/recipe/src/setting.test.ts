// Parsers built from settings: defaults, help, value parsing and the messages that name the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { z } from 'zod';
import { commanderFailure, ConfigError, HelpShown } from './config_error.js';
import { HostSchema } from './host.js';
import { HYPER_SETTINGS, RUN_SETTINGS } from './recipe.js';
import { addSettings, readSettings, setting, shapeOf, validateSettings } from './setting.js';
import { checkTlsFiles, type TlsReaders } from './tls_files.js';

const SETTINGS = {
  ...HYPER_SETTINGS,
  checkpointEverySteps: RUN_SETTINGS.checkpointEverySteps,
  note: setting({ flags: '--note <text>', help: 'a note', schema: undefined }),
};
const Schema = z.object(shapeOf(SETTINGS)).strict();

function parse(argv: string[], command: 'coordinator:serve' | 'worker:train' = 'worker:train'): z.infer<typeof Schema> {
  const program = new Command('t').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  addSettings(program, SETTINGS, command, { env: {}, runsRoot: 'runs', now: new Date(0), pid: 1 });
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    throw commanderFailure(err);
  }
  const { note: _note, ...values } = readSettings(program, SETTINGS);
  return validateSettings(Schema, values, SETTINGS);
}

test('values are read back by config key (--lr is lrPeak), switches and per-command defaults apply', () => {
  const cfg = parse(['--lr', '0.2', '--no-flip', '--batch-size', '64']);
  assert.equal(cfg.lrPeak, 0.2);
  assert.equal(cfg.flip, false);
  assert.equal(cfg.nesterov, true);
  assert.equal(cfg.batchSize, 64);
  assert.equal(cfg.checkpointEverySteps, 0);
  assert.equal(parse([], 'coordinator:serve').checkpointEverySteps, 100);
  assert.equal('note' in Schema.shape, false, 'a setting without a schema has no config field');
});

test('a bad value becomes a ConfigError naming the flag, what was expected and the value', () => {
  assert.throws(
    () => parse(['--lr', '-1']),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.code === 'CONFIG_INVALID' &&
      err.message === '--lr: Too small: expected number to be >0, but got -1',
  );
  assert.throws(
    () => parse(['--crop', '1.5']),
    (err: unknown) => err instanceof ConfigError && err.message.startsWith('--crop: ') && err.message.endsWith('but got 1.5'),
  );
  assert.throws(
    () => parse(['--epochs', 'many']),
    (err: unknown) =>
      err instanceof ConfigError && err.message === "option '--epochs <n>' argument 'many' is invalid. Expected a finite number.",
  );
  assert.throws(
    () => parse(['--help']),
    (err: unknown) => err instanceof HelpShown,
  );
});

test('HostSchema takes IP addresses and host names, not URLs', () => {
  for (const host of ['127.0.0.1', '::1', 'node-1.cluster.local', 'gnet_worker_1']) assert.ok(HostSchema.safeParse(host).success, host);
  for (const host of ['http://x', 'a b', 'host:80', '[::1]', '']) assert.equal(HostSchema.safeParse(host).success, false, host);
});

test('TLS files: the pair comes together, and a reader error names the flags', () => {
  const read: string[] = [];
  const readers: TlsReaders = {
    readServerTls: (cert, key) => read.push(`${cert}+${key}`),
    readPemFile: (file) => {
      throw new RangeError(`cannot read ${file}`);
    },
    isFileError: (err): err is Error => err instanceof RangeError,
  };
  checkTlsFiles({ cert: '', key: '' }, 'both serve wss://, neither serves ws://', readers);
  assert.throws(
    () => checkTlsFiles({ cert: '/c.pem', key: '' }, 'both serve wss://, neither serves ws://', readers),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message === '--tls-key must be given together with --tls-cert (both serve wss://, neither serves ws://), but only --tls-cert was',
  );
  checkTlsFiles({ cert: '/c.pem', key: '/k.pem' }, 'x', readers);
  assert.deepEqual(read, ['/c.pem+/k.pem']);
  assert.throws(
    () => checkTlsFiles({ ca: '/ca.pem', cert: '', key: '' }, 'x', readers),
    (err: unknown) => err instanceof ConfigError && err.message === '--tls-ca: cannot read /ca.pem',
  );
});
