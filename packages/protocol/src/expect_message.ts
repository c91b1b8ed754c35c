// State check for a receiver: is this message allowed now? (ws's receiver refuses a frame the
// state machine does not expect the same way.)
import type { Message, MessageOf, MessageType } from './message.js';
import { ProtocolError } from './protocol_error.js';

/**
 * Returns `message` narrowed to the expected types, or throws `PROTO_UNEXPECTED`.
 *
 * @example
 * const hello = expectMessage(decodeMessage(frame), ['hello']); // Hello
 */
export function expectMessage<T extends MessageType>(message: Message, expected: readonly T[]): MessageOf<T> {
  if (!(expected as readonly string[]).includes(message.type)) {
    throw new ProtocolError(
      'PROTO_UNEXPECTED',
      `Unexpected message '${message.type}' (expected ${expected.map((type) => `'${type}'`).join(' or ')})`,
    );
  }
  return message as MessageOf<T>;
}
