// Progress at a real terminal and in a pipe (issue 5): single-node mode (`--local-workers 1`) run
// once under a pseudo-terminal (python3's pty module: the coordinator's stdout is a real TTY with
// 120 columns) and once with stdout a pipe, as CI and `| tee` see it. At the terminal cli-progress
// draws the epoch, validation and test bars (rate, ETA, loss or accuracy) with the log lines
// printed above them; in the pipe no bar and no terminal control sequence appears, and the
// periodic `round done` / `epoch done` log lines are the progress.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CIFAR10_TEST_DIR, REPO_ROOT } from './cifar_dir.js';
import { COORDINATOR_ENTRY, coordinatorArgs } from './distributed_group.js';

const TIMEOUT_MS = 5 * 60_000;

/** Runs argv[1:] on a pseudo-terminal of 120x40, copies everything it prints to our stdout, exits with its code. */
const PTY_RUNNER = `
import fcntl, os, pty, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
os.kill(pid, 28)  # SIGWINCH: the child may have read the size before it was set
out = sys.stdout.buffer
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    out.write(data)
    out.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;

interface Outcome {
  code: number | null;
  stdout: string;
}

function runCoordinator(runDir: string, viaPty: boolean): Promise<Outcome> {
  const args = [
    ...['--conditions=source', '--import', 'tsx', join(REPO_ROOT, COORDINATOR_ENTRY)],
    ...coordinatorArgs({
      localWorkers: 1,
      backend: 'onednn',
      port: 0,
      dashboard: false,
      dataDir: CIFAR10_TEST_DIR,
      runDir,
      epochs: 1,
      batchSize: 16,
      trainLimit: 96,
      evalLimit: 48,
      checkpointEverySteps: 0,
    }),
  ];
  const [command, argv] = viaPty ? ['python3', ['-c', PTY_RUNNER, process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(command, argv, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: TIMEOUT_MS,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => void (stdout += chunk.toString('utf8')));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout })));
}

/* eslint-disable no-control-regex -- terminal control sequences are what this test looks for */
const CONTROL_SEQUENCE = /\x1b\[[0-9;?]*[A-Za-z]/g;
const CURSOR_MOVE = /\x1b\[\d*[AGK]/;
const ANY_ESCAPE = /\x1b\[/;
/* eslint-enable no-control-regex */

/** The text without terminal control sequences; carriage returns and newlines still split the redraws. */
function strip(text: string): string {
  return text.replace(CONTROL_SEQUENCE, '');
}

test(
  'at a terminal the coordinator draws progress bars with rate and ETA; in a pipe only log lines',
  { timeout: 2 * TIMEOUT_MS + 60_000 },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'gnet-progress-'));
    try {
      const [tty, pipe] = [await runCoordinator(join(dir, 'tty'), true), await runCoordinator(join(dir, 'pipe'), false)];
      assert.equal(tty.code, 0, tty.stdout.slice(-3000));
      assert.equal(pipe.code, 0, pipe.stdout.slice(-3000));

      // The terminal: the bars, redrawn in place (cursor movement), with what they promise.
      const screen = strip(tty.stdout);
      t.diagnostic(
        `terminal output: ${tty.stdout.length} bytes, last bar lines:\n${screen
          .split(/\r|\n/)
          .filter((l) => l.includes('|'))
          .slice(-3)
          .join('\n')}`,
      );
      assert.match(tty.stdout, CURSOR_MOVE, 'cli-progress redraws with cursor sequences');
      assert.match(screen, /epoch 1\/1 \|[█░]{30}\| \d+\/6 steps \| [\d.]+ img\/s \| eta (\d+s|\d+m\d\ds|\?) \| loss \d+\.\d{3}/);
      assert.match(screen, /epoch 1\/1 \|█{30}\| 6\/6 steps \|/, 'the epoch bar ends full');
      assert.match(screen, /validation 1\/1 \|█{30}\| 48\/48 images \| [\d.]+ img\/s \| eta 0s \| accuracy \d+\.\d\d%/);
      assert.match(screen, /test \|█{30}\| 48\/48 images \| [\d.]+ img\/s \| eta 0s \| accuracy \d+\.\d\d%/);
      // Log lines are pretty-printed at a terminal, and land above the bars, not inside them.
      assert.match(screen, /INFO.*epoch done/);
      for (const line of screen.split(/\r|\n/).filter((l) => l.includes('epoch done')))
        assert.doesNotMatch(line, /\|[█░]{30}\|/, `log line mixed with a bar: ${line}`);
      // Per-step lines would bury the bars: at a terminal the bar is the step progress.
      assert.doesNotMatch(screen, /round done/);

      // The pipe: NDJSON log lines only, no bar, no control sequence.
      assert.doesNotMatch(pipe.stdout, ANY_ESCAPE);
      assert.doesNotMatch(pipe.stdout, /[█░]/);
      const lines = pipe.stdout.split('\n').filter((l) => l.startsWith('{'));
      const messages = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
      assert.ok(messages.includes('round done'), 'periodic round lines');
      assert.ok(messages.includes('epoch done'), 'epoch line');
      assert.ok(pipe.stdout.split('\n').every((l) => l === '' || l.startsWith('{') || !/[█░]/.test(l)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
