// `scontrol show job -o` lines: fields by name, and which states mean the job has ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobEnded, parseJobRecord } from './slurm_job.js';

const LINE =
  'JobId=2 JobName=gnet.sbatch UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=1 Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:41 NodeList=n[1-2] BatchHost=n1 NumNodes=2 TRES=cpu=2,node=2,billing=2,gres/gpu=2 Command=/work/main/infra/slurm/gnet.sbatch StdOut=/tmp/gnet-slurm-x/job-2.out\n';

test('parseJobRecord reads the Key=Value fields of one line', () => {
  const job = parseJobRecord(LINE);
  assert.equal(job['JobState'], 'COMPLETED');
  assert.equal(job['ExitCode'], '0:0');
  assert.equal(job['NodeList'], 'n[1-2]');
  assert.equal(job['BatchHost'], 'n1');
  // A value holding '=' stays whole; its inner keys are not fields.
  assert.equal(job['TRES'], 'cpu=2,node=2,billing=2,gres/gpu=2');
  assert.equal(job['StdOut'], '/tmp/gnet-slurm-x/job-2.out');
});

test('jobEnded is true for final states only', () => {
  for (const state of ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL']) assert.ok(jobEnded({ JobState: state }), state);
  for (const state of ['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', '']) assert.ok(!jobEnded({ JobState: state }), state);
});
