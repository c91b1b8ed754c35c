// Public API of @gnet/data.
export {};
