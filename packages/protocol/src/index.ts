// Public API of @gnet/protocol.
export {};
