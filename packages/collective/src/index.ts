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
  type CollectiveErrorCode,
  type WaitSite,
} from './errors.js';
export { starHubRank, type Transport, type WaitOptions } from './transport.js';
// Building blocks for other Transport implementations (e.g. a coordinator's own server).
export { boundedWait, type Settle } from './bounded_wait.js';
export { FrameInbox, type FailureFactory, type InboxFlowControl } from './frame_inbox.js';
export { MemoryHub, MemoryTransport, type MemoryHubOptions } from './memory_transport.js';
export { WsTransport, type WsRole, type WsTransportOptions } from './ws_transport.js';
export { listenWsServer, wsUrl, type TlsCredentials, type WsServer, type WsServerOptions } from './ws_server.js';
export { onTimeTicks } from './on_time_ticks.js';
export { ControlChannel, type ChannelEnd, type ControlChannelOptions } from './control_channel.js';
export { holdFrames } from './hold_frames.js';
export { challengeConnection, REFUSAL_GRACE_MS, refuseProtocolError, sendRefusal, type ChallengeOptions } from './challenge_connection.js';
export {
  addressGroup,
  DEFAULT_PREAUTH_LIMITS,
  PreauthGuard,
  type AdmissionRefusal,
  type ConnectionEnds,
  type PreauthGuardOptions,
  type PreauthLimits,
} from './preauth_guard.js';
export { DEFAULT_REFUSAL_LOG_INTERVAL_MS, RefusalLog, type RefusalLogger, type RefusalLogOptions } from './refusal_log.js';
export { clientTlsOptions, describeTlsTrustError, type TrustedCa } from './tls_client.js';
export { readPemFile, readServerTls } from './tls_files.js';
export { WsPeerListener, type AcceptedPeer, type PeerAcceptance, type WsPeerListenerOptions } from './ws_peer_listener.js';
export {
  acceptStarWorkers,
  connectRing,
  connectStarWorker,
  dialPeer,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type AcceptStarWorkersOptions,
  type ConnectRingOptions,
  type ConnectStarWorkerOptions,
  type DialedPeer,
  type DialPeerOptions,
} from './ws_connect.js';
export { checkBucketLayout, layoutElements, planBuckets } from './bucket_layout.js';
export {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_COLLECTIVE_TIMEOUT_MS,
  DEFAULT_SEND_BUFFERS,
  type ChunkOptions,
  type ChunkSettings,
} from './chunk_settings.js';
export type { ReceiveStats } from './chunk_receiver.js';
export type { BucketAllReduce, BucketContext } from './bucket_all_reduce.js';
export { RingAllReduce, type RingAllReduceOptions } from './ring_all_reduce.js';
export { ringNeighbours } from './ring_schedule.js';
export { StarAllReduce, type StarAllReduceOptions } from './star_all_reduce.js';
export { StarHub, type StarHubOptions } from './star_hub.js';
export { GradientReducer, type AllReduceContext, type GradientReducerOptions } from './gradient_reducer.js';
export { createBucketAllReduce, type CreateBucketAllReduceOptions } from './create_bucket_all_reduce.js';
export { listenFailure } from './listen_failure.js';
