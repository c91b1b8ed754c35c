// Public API of @gnet/collective: all-reduce algorithms (ring, star) over an abstract transport,
// gradient buckets over plain Float32Arrays, and in-memory and WebSocket transports.
export {
  BadFrameError,
  CollectiveConfigError,
  CollectiveError,
  CollectiveTimeoutError,
  CollectiveUsageError,
  PeerLostError,
  RoundAbortedError,
  TransportClosedError,
} from './errors.js';
export { starHubRank, type Transport, type WaitOptions } from './transport.js';
// Building blocks for other Transport implementations (e.g. a coordinator's own server).
export { boundedWait } from './bounded_wait.js';
export { FrameInbox } from './frame_inbox.js';
export { MemoryHub } from './memory_transport.js';
export { WsTransport } from './ws_transport.js';
export { listenWsServer, type TlsCredentials, type WsServer } from './ws_server.js';
export { ControlChannel, type ChannelEnd, type ControlChannelOptions } from './control_channel.js';
export { holdFrames } from './hold_frames.js';
export { challengeConnection, refuseProtocolError, sendRefusal } from './challenge_connection.js';
export { PreauthGuard, type PreauthLimits } from './preauth_guard.js';
export { RefusalLog } from './refusal_log.js';
export { clientTlsOptions, describeTlsTrustError, type TrustedCa } from './tls_client.js';
export { readPemFile, readServerTls } from './tls_files.js';
export { WsPeerListener } from './ws_peer_listener.js';
export { acceptStarWorkers, connectRing, connectStarWorker, dialPeer } from './ws_connect.js';
export { layoutElements, planBuckets } from './bucket_layout.js';
export { DEFAULT_CHUNK_BYTES } from './chunk_settings.js';
export type { BucketAllReduce } from './bucket_all_reduce.js';
export { RingAllReduce } from './ring_all_reduce.js';
export { ringNeighbours } from './ring_schedule.js';
export { StarAllReduce } from './star_all_reduce.js';
export { StarHub } from './star_hub.js';
export { GradientReducer } from './gradient_reducer.js';
export { createBucketAllReduce } from './create_bucket_all_reduce.js';
export { listenFailure } from './listen_failure.js';
