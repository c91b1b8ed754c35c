// Public API of @gnet/collective.
export {};
