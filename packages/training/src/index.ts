// Public API of @gnet/training.
export {};
