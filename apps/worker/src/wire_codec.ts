// fp16 on the wire: converted natively (the oneDNN addon's F16C loops) wherever that addon loads,
// else by @gnet/protocol's JS loops. Both give the same bits, so ranks that differ here still
// agree bit for bit; only the speed differs (~15x at 1 Gbit all-reduce rates).
import { nativeFloat16Codec } from '@gnet/native-cpu';
import { setFloat16Codec } from '@gnet/protocol';
import type { Logger } from 'pino';

/** Which fp16 conversion this process uses from now on: 'native', or 'js' with the reason. */
export function useNativeFloat16Codec(log?: Logger): { codec: 'native' | 'js'; reason?: string } {
  const { codec, reason } = nativeFloat16Codec();
  setFloat16Codec(codec);
  const chosen = codec === null ? { codec: 'js' as const, reason } : { codec: 'native' as const };
  log?.debug(chosen, 'fp16 wire conversion');
  return chosen;
}
