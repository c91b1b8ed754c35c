// Public API of the network-namespace test helper (infra/netns): hosts with their own IPv4
// addresses on a bridge, links shaped by tc, every process and namespace cleaned up; and the
// skip-or-fail policy every infra test shares. See ../README.md.
export { createHostNetwork, type CreateHostNetworkOptions, type HostNetwork, type HostSpec, type NetHost } from './netns.js';
export { InfraRequiredError, netnsUnavailableReason, requireOrSkip, type SkippableTest } from './availability.js';
export { NetnsError, type NetnsErrorCode } from './errors.js';
export { tbfSettings, type TbfSettings } from './shaping.js';
export { watchNdjson, type NdjsonProcess, type WatchNdjsonOptions } from './ndjson_process.js';
export { registerExitCleanup } from './exit_cleanup.js';
