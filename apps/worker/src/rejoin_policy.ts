// Which failures of a connection to the coordinator the worker survives by dialing again (step 8
// of distributed_worker.ts): a lost or silent coordinator, or an eviction. Everything else ends it.
import { CoordinatorLinkError } from './coordinator_link.js';
import { WorkerRunError } from './worker_run_error.js';

/** True for failures after which the worker dials the coordinator again instead of exiting. */
export function canRejoin(err: unknown): boolean {
  if (err instanceof CoordinatorLinkError) return err.code === 'LINK_LOST' || err.code === 'LINK_SILENT';
  return err instanceof WorkerRunError && err.code === 'WORKER_EVICTED';
}
