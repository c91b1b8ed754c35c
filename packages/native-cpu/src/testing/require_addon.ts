// The tests' guard: without the addon they fail loudly, saying what to install, rather than skip
// (a missing fast path must not pass as green; `.ci/run` installs libdnnl-dev).
import { loadNativeAddon, type OneDnnAddon } from '../native_addon.js';

/** The loaded addon; throws naming the reason and the fix when it cannot load. */
export function requireAddon(): OneDnnAddon {
  const { addon, reason } = loadNativeAddon();
  if (addon === null)
    throw new Error(
      `${reason}; install oneDNN (apt-get install libdnnl-dev) and build the addon (npm run build:native -w @gnet/native-cpu)`,
    );
  return addon;
}
