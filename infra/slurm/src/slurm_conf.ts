// The smallest slurm.conf (and gres.conf) a throwaway cluster in network namespaces runs with,
// everything it writes kept under one temporary folder. Choices that are not Slurm's defaults,
// and why:
//   ProctrackType=proctrack/linuxproc, TaskPlugin=task/none: no cgroup configuration needed;
//   SlurmdParameters=config_overrides: the nodes are what this file says, not this machine's
//     hardware (three "nodes" share two cores);
//   accounting and job completion off: no slurmdbd;
//   AuthInfo=socket=...: our own munged, not the machine's /run/munge;
//   GresTypes=gpu with File=/dev/null: a "GPU" per node, so --gpus-per-task=1 is scheduled and
//     Slurm sets CUDA_VISIBLE_DEVICES as on a real GPU node (slurmd only needs a character device
//     to exist; nothing opens it);
//   KillWait=5: a cancelled step gets SIGKILL 5 s after SIGTERM, so teardown is quick.
import { join } from 'node:path';

export interface SlurmNodeSpec {
  name: string;
  /** The address slurmctld and srun reach the node on (NodeAddr). */
  address: string;
}

export interface SlurmConfOptions {
  /** Folder holding the state, spool, log and pid files (created by the caller). */
  dir: string;
  controller: SlurmNodeSpec;
  nodes: readonly SlurmNodeSpec[];
  /** CPUs each node offers; the jobs ask for one per task. */
  cpusPerNode: number;
  /** Path of munged's socket. */
  mungeSocket: string;
}

/** Ports inside the namespaces (each host has its own), so Slurm's defaults cannot clash with anything. */
export const SLURMCTLD_PORT = 6817;
export const SLURMD_PORT = 6818;

/** slurm.conf for `options`; `%n` in paths is the node name (slurmd expands it). */
export function renderSlurmConf(options: SlurmConfOptions): string {
  const d = options.dir;
  return [
    'ClusterName=gnettest',
    `SlurmctldHost=${options.controller.name}(${options.controller.address})`,
    `SlurmctldPort=${SLURMCTLD_PORT}`,
    `SlurmdPort=${SLURMD_PORT}`,
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${options.mungeSocket}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    `StateSaveLocation=${join(d, 'state')}`,
    `SlurmdSpoolDir=${join(d, 'spool', '%n')}`,
    `SlurmctldPidFile=${join(d, 'slurmctld.pid')}`,
    `SlurmdPidFile=${join(d, 'slurmd-%n.pid')}`,
    `SlurmctldLogFile=${join(d, 'log', 'slurmctld.log')}`,
    `SlurmdLogFile=${join(d, 'log', 'slurmd-%n.log')}`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'MpiDefault=none',
    'MailProg=/bin/true',
    'ReturnToService=2',
    'SlurmdParameters=config_overrides',
    'GresTypes=gpu',
    'KillWait=5',
    ...options.nodes.map((n) => `NodeName=${n.name} NodeAddr=${n.address} CPUs=${options.cpusPerNode} Gres=gpu:1 State=UNKNOWN`),
    `PartitionName=test Nodes=${options.nodes.map((n) => n.name).join(',')} Default=YES MaxTime=INFINITE State=UP`,
    '',
  ].join('\n');
}

/** gres.conf beside slurm.conf: one stand-in GPU per node (see the header). */
export function renderGresConf(): string {
  return 'Name=gpu File=/dev/null\n';
}
