// The wire format is plain MessagePack: no extension types at all. msgpackr's decoder accepts its
// own extensions whatever the encoder's options (its "records", 0xd4/0xd5 0x72, are decoded
// unconditionally), so frames are walked once before unpacking and any extension is refused.
// The walk reads only headers and skips str/bin bodies by their length: O(values), no copies.
import { ProtocolError } from './protocol_error.js';

/**
 * Throws `PROTO_MALFORMED` if the first MessagePack value in `bytes` contains an extension
 * (fixext 1–16, ext 8/16/32). Stops quietly at a truncation or at 0xc1: the unpacker reports those.
 */
export function assertPlainMessagePack(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  let pos = 0;
  // Values still to read; arrays and maps add their elements. Each value takes at least one byte,
  // so the loop ends within `end` iterations whatever the headers claim.
  let remaining = 1;
  while (remaining > 0 && pos < end) {
    remaining -= 1;
    const b = bytes[pos]!;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      pos += 1;
    } else if (b <= 0x8f) {
      remaining += 2 * (b & 0x0f);
      pos += 1;
    } else if (b <= 0x9f) {
      remaining += b & 0x0f;
      pos += 1;
    } else if (b <= 0xbf) {
      pos += 1 + (b & 0x1f);
    } else if (b === 0xc1) {
      return;
    } else {
      const sized = sizedHeader(b);
      if (sized === null) {
        const extType = extTypeAt(bytes, pos, b);
        throw new ProtocolError(
          'PROTO_MALFORMED',
          `Frame of ${end} bytes uses a MessagePack extension (header 0x${b.toString(16)}, type ${extType}) at byte ${pos}: the protocol is plain MessagePack without extensions`,
        );
      }
      const { lengthBytes, fixed, kind } = sized;
      if (pos + 1 + lengthBytes > end) return;
      const length =
        lengthBytes === 0 ? 0 : lengthBytes === 1 ? bytes[pos + 1]! : lengthBytes === 2 ? view.getUint16(pos + 1) : view.getUint32(pos + 1);
      pos += 1 + lengthBytes + fixed;
      if (kind === 'bytes') pos += length;
      else if (kind === 'array') remaining += length;
      else if (kind === 'map') remaining += 2 * length;
    }
  }
}

interface SizedHeader {
  /** Bytes of the length field after the header byte (0 for fixed-size values). */
  lengthBytes: 0 | 1 | 2 | 4;
  /** Fixed payload bytes (numbers). */
  fixed: number;
  kind: 'scalar' | 'bytes' | 'array' | 'map';
}

/** Layout of the headers 0xc4–0xdf other than extensions (null for those). */
function sizedHeader(b: number): SizedHeader | null {
  switch (b) {
    case 0xc4:
    case 0xd9:
      return { lengthBytes: 1, fixed: 0, kind: 'bytes' }; // bin 8, str 8
    case 0xc5:
    case 0xda:
      return { lengthBytes: 2, fixed: 0, kind: 'bytes' }; // bin 16, str 16
    case 0xc6:
    case 0xdb:
      return { lengthBytes: 4, fixed: 0, kind: 'bytes' }; // bin 32, str 32
    case 0xca:
      return { lengthBytes: 0, fixed: 4, kind: 'scalar' }; // float 32
    case 0xcb:
      return { lengthBytes: 0, fixed: 8, kind: 'scalar' }; // float 64
    case 0xcc:
    case 0xd0:
      return { lengthBytes: 0, fixed: 1, kind: 'scalar' }; // (u)int 8
    case 0xcd:
    case 0xd1:
      return { lengthBytes: 0, fixed: 2, kind: 'scalar' };
    case 0xce:
    case 0xd2:
      return { lengthBytes: 0, fixed: 4, kind: 'scalar' };
    case 0xcf:
    case 0xd3:
      return { lengthBytes: 0, fixed: 8, kind: 'scalar' };
    case 0xdc:
      return { lengthBytes: 2, fixed: 0, kind: 'array' };
    case 0xdd:
      return { lengthBytes: 4, fixed: 0, kind: 'array' };
    case 0xde:
      return { lengthBytes: 2, fixed: 0, kind: 'map' };
    case 0xdf:
      return { lengthBytes: 4, fixed: 0, kind: 'map' };
    default:
      return null; // 0xc7–0xc9 ext 8/16/32, 0xd4–0xd8 fixext
  }
}

/** The extension's type byte (signed, as the spec defines it), or `?` past the end. */
function extTypeAt(bytes: Uint8Array, pos: number, header: number): string {
  const lengthBytes = header === 0xc7 ? 1 : header === 0xc8 ? 2 : header === 0xc9 ? 4 : 0;
  const at = pos + 1 + lengthBytes;
  if (at >= bytes.byteLength) return '?';
  const t = bytes[at]!;
  return `0x${t.toString(16).padStart(2, '0')}${t >= 0x80 ? ` (${t - 256})` : ''}`;
}
