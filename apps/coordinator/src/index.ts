// Public API of @gnet/coordinator.
export {};
