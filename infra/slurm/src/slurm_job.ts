// A job as `scontrol show job -o <id>` prints it (one line of Key=Value fields), and the states
// in which it has ended. Values the tests read (JobState, ExitCode, NodeList, BatchHost, StdOut)
// never contain spaces.

/** A job's fields by name, e.g. `JobState` → `COMPLETED`, `ExitCode` → `0:0`. */
export type JobRecord = Readonly<Record<string, string>>;

/** Job states after which nothing of the job runs any more (squeue(1), JOB STATE CODES). */
const FINAL_STATES = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
]);

/** Fields of one `scontrol show job -o` line; a later duplicate key keeps the first value. */
export function parseJobRecord(line: string): JobRecord {
  const fields: Record<string, string> = {};
  for (const m of line.trim().matchAll(/(?:^|\s)([A-Za-z][\w/:]*)=(\S*)/g)) {
    if (!(m[1]! in fields)) fields[m[1]!] = m[2]!;
  }
  return fields;
}

/** True once the job has ended, whatever the outcome. */
export function jobEnded(job: JobRecord): boolean {
  return FINAL_STATES.has(job['JobState'] ?? '');
}
