// Why a worker of a distributed run stops, other than a lost coordinator (CoordinatorLinkError),
// a lost ring neighbour (the collective's PeerLostError) or a refused hello (ProtocolError).

/** Stable codes of {@link WorkerRunError}. */
export type WorkerRunErrorCode =
  | 'WORKER_LAYOUT_MISMATCH'
  | 'WORKER_MICRO_BATCH'
  | 'WORKER_WEIGHTS_DIFFER'
  | 'WORKER_ABORTED'
  | 'WORKER_EVICTED'
  | 'WORKER_PROTOCOL'
  /** The coordinator stopped the run (`leave` shutdown, e.g. it was interrupted): not this worker's failure. */
  | 'WORKER_RUN_STOPPED'
  /** This worker was stopped by SIGINT/SIGTERM (after offering its state to the coordinator). */
  | 'WORKER_STOPPED';

/** The run cannot go on for this worker; the process exits 1 with this message. */
export class WorkerRunError extends Error {
  override readonly name = 'WorkerRunError';
  constructor(
    readonly code: WorkerRunErrorCode,
    message: string,
  ) {
    super(message);
  }
}
